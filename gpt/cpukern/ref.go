package cpukern

// The pure-Go kernels: used where the assembly ones are not (purego builds,
// other CPUs, sizes that are not a multiple of 8), and as the reference
// the assembly is tested against.

// refRows is MatMulRows without the bias; w starts at row o0.
func refRows(out, w, x []float32, t, in, nOut, o0, o1 int) {
	for r := range t {
		xr := x[r*in : (r+1)*in]
		dst := out[r*nOut+o0 : r*nOut+o1]
		for o := range dst {
			dst[o] = refDot(w[o*in:(o+1)*in], xr)
		}
	}
}

// refRowsF16 is refRows with IEEE-half weights.
func refRowsF16(out []float32, w []uint16, x []float32, t, in, nOut, o0, o1 int) {
	tab := halfTable()
	for r := range t {
		xr := x[r*in : (r+1)*in]
		dst := out[r*nOut+o0 : r*nOut+o1]
		for o := range dst {
			row := w[o*in : (o+1)*in]
			row = row[:len(xr)]
			var s0, s1, s2, s3 float32
			i := 0
			for ; i+4 <= len(xr); i += 4 {
				s0 += tab[row[i]] * xr[i]
				s1 += tab[row[i+1]] * xr[i+1]
				s2 += tab[row[i+2]] * xr[i+2]
				s3 += tab[row[i+3]] * xr[i+3]
			}
			for ; i < len(xr); i++ {
				s0 += tab[row[i]] * xr[i]
			}
			dst[o] = (s0 + s1) + (s2 + s3)
		}
	}
}

func refDot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// refWeightedSum sets out = sum_j p[j] * v[j*stride:][:len(out)].
func refWeightedSum(out, p, v []float32, stride int) {
	clear(out)
	for j, pj := range p {
		row := v[j*stride : j*stride+len(out)]
		for i, x := range row {
			out[i] += pj * x
		}
	}
}
