//go:build amd64 && !purego

package cpukern

import "golang.org/x/sys/cpu"

// hasAsm reports whether this CPU runs the generated AVX2+FMA+F16C kernels.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

var useAsm = hasAsm
