package report

import "math"

// sampleStdDev returns the sample standard deviation of values around
// their mean (n-1 in the denominator, as llama-bench's stddev_ts), or nil
// for fewer than two values. The deviations are scaled by the largest
// one before squaring, so values near the float64 limit do not overflow.
func sampleStdDev(values []float64, mean float64) *float64 {
	if len(values) < 2 {
		return nil
	}
	var scale float64
	for _, v := range values {
		scale = math.Max(scale, math.Abs(v-mean))
	}
	var sd float64
	if scale > 0 && !math.IsInf(scale, 0) {
		var sum float64
		for _, v := range values {
			d := (v - mean) / scale
			sum += d * d
		}
		sd = scale * math.Sqrt(sum/float64(len(values)-1))
	}
	return &sd
}
