package render

import (
	"math"
	"testing"
)

// TestBoxGaussKernel checks the three-box stand-in for a Gaussian against
// the Gaussian itself, from boxGaussMin to op_blur's largest radius. What
// bounds the error in an image is the step response (a hard edge blurred):
// it must stay within 1 % of full scale of the Gaussian's, so a black to
// white edge is off by at most 2.5 levels. The variance (the blur's width)
// must be the Gaussian's.
func TestBoxGaussKernel(t *testing.T) {
	for _, sigma := range []float64{boxGaussMin, 9.5, 12.3, 40, 250} {
		r := int(math.Ceil(6 * sigma))
		n := 2*r + 1
		line := make([]float64, n)
		line[r] = 1
		bw := boxWidths(sigma)
		out, pa, pb := make([]float64, n), make([]float64, n+2*boxPad(bw)), make([]float64, n+2*boxPad(bw))
		boxBlurLine(line, out, pa, pb, bw)
		var sum, gsum, step, variance float64
		for i, v := range out {
			x := float64(i - r)
			sum += v
			gsum += math.Exp(-x*x/(2*sigma*sigma)) / (sigma * math.Sqrt(2*math.Pi))
			step = max(step, math.Abs(sum-gsum))
			variance += v * x * x
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("sigma %g: kernel sums to %g", sigma, sum)
		}
		if rel := math.Abs(variance/(sigma*sigma) - 1); rel > 1e-6 {
			t.Errorf("sigma %g: variance %.2f, want %.2f (off by %.2f %%)", sigma, variance, sigma*sigma, 100*rel)
		}
		if step > 0.01 {
			t.Errorf("sigma %g: step response differs from the Gaussian's by %.2f %% of full scale", sigma, 100*step)
		}
	}
}

// TestLargeBlurMatchesImageMagick compares the box path with ImageMagick's
// exact convolution on the test image.
func TestLargeBlurMatchesImageMagick(t *testing.T) {
	t.Parallel()
	src := testImage(160, 120)
	runIMCases(t, src, []imCase{
		{"op_blur=9", []string{"-gaussian-blur", "0x9"}, 1},
		{"op_blur=30", []string{"-virtual-pixel", "edge", "-gaussian-blur", "0x30"}, 1},
	})
}
