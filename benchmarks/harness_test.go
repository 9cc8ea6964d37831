package benchmarks

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"

	"github.com/labcoreai/tokbench/gpt"
)

func defaultConfig(t *testing.T, e map[string]string) Config {
	t.Helper()
	p, err := ParamsFromEnv(env(e), testRoot(t))
	require.NoError(t, err)
	cs, err := Configs(&p)
	require.NoError(t, err)
	return cs[0]
}

// go test -cpu 1,2 sets GOMAXPROCS per run of a sub-benchmark, after
// BenchmarkGenerate opened the backend: FollowThreads resizes the CPU
// backend's worker pool (its workers are goroutines) to each value.
func TestRunnerFollowsGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	r, err := NewRunner(defaultConfig(t, nil), &bytes.Buffer{})
	require.NoError(t, err)
	defer r.Close()
	// Workers of backends closed by earlier tests may still be exiting:
	// count once the number of goroutines has settled.
	alone := runtime.NumGoroutine() // a pool of 1 has no workers
	for settled := time.Now(); time.Since(settled) < 200*time.Millisecond; time.Sleep(time.Millisecond) {
		if n := runtime.NumGoroutine(); n != alone {
			alone, settled = n, time.Now()
		}
	}
	for _, n := range []int{3, 1, 4, 2} {
		runtime.GOMAXPROCS(n)
		require.NoError(t, r.FollowThreads())
		assert.Equal(t, n, r.Threads())
		// Closed workers may take a moment to exit.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() != alone+n-1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		assert.Equal(t, alone+n-1, runtime.NumGoroutine(), "GOMAXPROCS %d: want %d pool workers", n, n-1)
		res, err := r.Generate(4)
		require.NoError(t, err)
		assert.Len(t, res.Tokens, 4)
	}
}

// In a sweep of devices, an unavailable device is an error the benchmark
// skips; alone, cuda falls back to the CPU with both lines, and the name
// says what ran.
func TestUnavailableDevice(t *testing.T) {
	if slices.Contains(gpt.Devices(), "cuda") {
		t.Skip("this binary has CUDA support")
	}
	c := defaultConfig(t, map[string]string{"BENCH_DEVICE": "cpu,cuda"})
	c.Device = "cuda"
	require.True(t, c.Sweep)
	var out bytes.Buffer
	_, err := NewRunner(c, &out)
	require.ErrorIs(t, err, gpt.ErrNoDevice)
	assert.Contains(t, err.Error(), "built without cuda support")
	assert.Empty(t, out.String(), "no fallback in a sweep")

	c = defaultConfig(t, map[string]string{"BENCH_DEVICE": "cuda"})
	require.False(t, c.Sweep)
	assert.Equal(t, "src=local/dev=cuda/kv=on/gen=256/dtype=fp32", c.Name())
	r, err := NewRunner(c, &out)
	require.NoError(t, err)
	defer r.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2, out.String())
	assert.Equal(t, gpt.FallbackMessage, lines[0])
	assert.Contains(t, lines[1], "-tags cuda")
	assert.Equal(t, "src=local/dev=cpu/kv=on/gen=256/dtype=fp32", r.Name())
}

func TestConfigLine(t *testing.T) {
	r, err := NewRunner(defaultConfig(t, map[string]string{"BENCH_DTYPE": "fp16"}), &bytes.Buffer{})
	require.NoError(t, err)
	defer r.Close()
	assert.Equal(t, "src=local/dev=cpu/kv=on/gen=256/dtype=fp16", r.Name())
	at := time.Date(2026, 11, 28, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	line := r.ConfigLine("BenchmarkGenerate/"+r.Name()+"-2", at)
	js, ok := strings.CutPrefix(line, ConfigLinePrefix)
	require.True(t, ok, line)
	var f ConfigFacts
	require.NoError(t, json.Unmarshal([]byte(js), &f))
	assert.Equal(t, ConfigFacts{Name: "BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=256/dtype=fp16-2",
		Timestamp: "2026-11-28T08:30:00.123456789Z", DeviceType: "cpu", DeviceName: gpt.CPUName(), ModelDType: "fp16"}, f)
	// The shared facts do not vary between configurations.
	for _, kv := range r.Facts(testRoot(t)) {
		assert.NotContains(t, []string{"timestamp", "device-type", "device-name", "cuda-driver", "model-dtype"}, kv[0])
	}
}

func TestRooflineApplies(t *testing.T) {
	llc := LastLevelCacheBytes()
	if llc <= 0 {
		llc = 32 << 20
	}
	assert.False(t, RooflineApplies(llc+1, false), "kv=off is compute-bound")
	assert.False(t, RooflineApplies(llc/2, true), "weights in the cache")
	assert.True(t, RooflineApplies(2*llc, true))
	assert.GreaterOrEqual(t, ProbeBytes(), 64<<20)
	assert.LessOrEqual(t, ProbeBytes(), BandwidthBufferBytes)
	if LastLevelCacheBytes() > 0 {
		assert.GreaterOrEqual(t, int64(ProbeBytes()), min(4*LastLevelCacheBytes(), BandwidthBufferBytes))
	}
}

// platform.os is Python's platform.platform(), checked against python3
// where it is installed.
func TestPlatformOSMatchesPython(t *testing.T) {
	out, err := exec.Command("python3", "-c", "import platform; print(platform.platform())").Output()
	if err != nil {
		t.Skipf("python3 not available: %v", err)
	}
	assert.Equal(t, strings.TrimSpace(string(out)), PlatformOS())
}

func TestPyPlatformJoin(t *testing.T) {
	assert.Equal(t, "Linux-6.1.0-x86_64-with-glibc2.36", pyPlatform("Linux", "6.1.0", "x86_64", "", "with", "glibc2.36"))
	assert.Equal(t, "Linux-6.1.0-x86_64-with", pyPlatform("Linux", "6.1.0", "x86_64", "unknown", "with", ""))
	assert.Equal(t, "Linux-a_b-c-x86_64", pyPlatform("Linux", "a b/c", "x86_64"))
	assert.Equal(t, "2.36", glibcBannerVersion([]byte("\x00GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\n")))
	assert.Equal(t, "2.27", glibcBannerVersion([]byte("GNU C Library (Ubuntu GLIBC 2.27-3ubuntu1) stable release version 2.27, by Roland McGrath et al.")))
	assert.Equal(t, "", glibcBannerVersion([]byte("musl libc (x86_64)")))
}

func TestProgress(t *testing.T) {
	p, err := NewProgress("off")
	require.NoError(t, err)
	assert.Nil(t, p)
	p.Printf("nothing %d", 1) // a nil Progress writes nothing
	p.Iteration("nothing")
	_, err = NewProgress("loud")
	assert.ErrorContains(t, err, "BENCH_PROGRESS")

	var buf bytes.Buffer
	p = &Progress{w: &buf}
	p.Printf("configuration %d/%d: %s: loading the model", 1, 2, "src=local")
	p.Iteration("x: iteration %d/%d", 2, 3)
	assert.Equal(t, "[tokbench] configuration 1/2: src=local: loading the model\n[tokbench] x: iteration 2/3\n", buf.String())
	buf.Reset()
	p.inResults = true
	p.Iteration("x: iteration %d/%d", 3, 3)
	assert.Empty(t, buf.String(), "no iteration line where it could split a result line")
}

// Upstream's configs/base.toml has no vocab_size: the random source takes
// it from the meta.json (65 for the bundled model's), as upstream's
// trainer does; without a meta.json the error is about the random source.
func TestRandomSourceVocabFromMeta(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "base.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[model]\nblock_size = 16\nn_layer = 1\nn_head = 2\nn_embd = 16\n\n[generation]\nseed = null\n"), 0o644))
	c := defaultConfig(t, map[string]string{"BENCH_SOURCE": "random", "BENCH_CONFIG": cfg, "BENCH_GEN_TOKENS": "4"})
	r, err := NewRunner(c, &bytes.Buffer{})
	require.NoError(t, err)
	defer r.Close()
	assert.Equal(t, 65, r.Loaded.Model.Config.VocabSize)
	res, err := r.Generate(4)
	require.NoError(t, err)
	assert.Len(t, res.Tokens, 4)

	for _, tok := range []string{"", "char"} {
		c = defaultConfig(t, map[string]string{"BENCH_SOURCE": "random", "BENCH_CONFIG": cfg, "BENCH_TOKENIZER": tok,
			"BENCH_META": filepath.Join(t.TempDir(), "absent.json")})
		_, err = NewRunner(c, &bytes.Buffer{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "source random")
		assert.Contains(t, err.Error(), "no vocab_size and no meta.json gives one")
		assert.NotContains(t, err.Error(), "checkpoint")
	}
	// With vocab_size but no meta.json, the char vocab is what is missing.
	require.NoError(t, os.WriteFile(cfg, []byte("[model]\nvocab_size = 65\nblock_size = 16\nn_layer = 1\nn_head = 2\nn_embd = 16\n"), 0o644))
	c = defaultConfig(t, map[string]string{"BENCH_SOURCE": "random", "BENCH_CONFIG": cfg, "BENCH_META": filepath.Join(t.TempDir(), "absent.json")})
	_, err = NewRunner(c, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "source random: the char tokenizer's vocab comes from a meta.json")
	assert.NotContains(t, err.Error(), "checkpoint")
}

// The real benchmark's output, run with -cpu 1,2 over two precisions:
// each name (with its -GOMAXPROCS suffix) has its configuration line with
// the facts its name says, every swept dimension is in every name, and the
// benchfmt configuration is the same for all results, so benchstat keeps
// one table per unit.
func TestBenchmarkOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkGenerate$", "-test.benchtime=1x", "-test.cpu=1,2")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BENCH_") { // the caller's settings stay out
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "BENCH_DTYPE=fp32,fp16", "BENCH_GEN_TOKENS=4", "BENCH_WARMUP_TOKENS=0", "BENCH_PROGRESS=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	facts := map[string]ConfigFacts{}
	for line := range strings.SplitSeq(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, ConfigLinePrefix); ok {
			var f ConfigFacts
			require.NoError(t, json.Unmarshal([]byte(js), &f), line)
			facts[f.Name] = f
		}
	}
	rd := benchfmt.NewReader(bytes.NewReader(out), "out")
	var names []string
	var config string
	for rd.Scan() {
		r, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		name := "Benchmark" + r.Name.String()
		names = append(names, name)
		f, ok := facts[name]
		require.True(t, ok, "no configuration line for %s", name)
		_, dtype, _ := strings.Cut(name, "/dtype=")
		dtype, _, _ = strings.Cut(dtype, "-")
		assert.Equal(t, dtype, f.ModelDType, name)
		assert.Equal(t, "cpu", f.DeviceType, name)
		_, err := time.Parse(time.RFC3339, f.Timestamp)
		assert.NoError(t, err)
		_, ok = r.Value("prefill-sec") // prefill-ns, tidied
		assert.True(t, ok, "prefill-ns on %s", name)
		_, ok = r.Value("roofline-%")
		assert.False(t, ok, "no roofline-%% unless BENCH_ROOFLINE=on")
		var cfg []string
		for _, c := range r.Config {
			if c.File {
				cfg = append(cfg, c.Key+"="+string(c.Value))
			}
		}
		if config == "" {
			config = strings.Join(cfg, "\n")
		}
		assert.Equal(t, config, strings.Join(cfg, "\n"), "%s: a configuration line differs (it would split benchstat's tables)", name)
	}
	require.NoError(t, rd.Err())
	assert.ElementsMatch(t, []string{
		"BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/dtype=fp32", "BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/dtype=fp32-2",
		"BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/dtype=fp16", "BenchmarkGenerate/src=local/dev=cpu/kv=on/gen=4/dtype=fp16-2",
	}, names)
	assert.NotContains(t, string(out), "[tokbench]", "BENCH_PROGRESS=off")
}

// A name says what ran: the device opened and the precision the weights run
// in (cuda runs fp32 weights in fp16), in every kind of configuration. Found
// by make cuda-emu-test, where a generation named dtype=fp32 ran fp16.
func TestNameSaysWhatRan(t *testing.T) {
	c := defaultConfig(t, map[string]string{"BENCH_DTYPE": "fp32"})
	assert.Equal(t, "src=local/dev=cuda/kv=on/gen=256/dtype=fp16", c.name("cuda", "fp16", 0))
	c.HasDepth, c.Depth = true, 16
	assert.Equal(t, "src=local/dev=cpu/kv=on/gen=256/depth=16/dtype=int8", c.name("cpu", "int8", 0))
	c.PromptTokens = 512
	assert.Equal(t, "src=local/dev=cuda/prompt=32/dtype=fp16", c.name("cuda", "fp16", 32))
}
