package arch

// FLOPs of one forward pass (multiply-adds count as 2), matmuls and
// attention only; norms and activations are a rounding error.
func towerFLOPs(tw Tower, tokens int) int64 {
	n, w, h := int64(tokens), int64(tw.Width), int64(tw.MLPWidth)
	perLayer := 2*n*w*3*w + 2*n*n*w*2 + 2*n*w*w + 2*n*w*h*2
	return perLayer * int64(tw.Layers)
}

// ImageFLOPs is the image tower's cost for one image.
func (c *Config) ImageFLOPs() int64 {
	n := int64(c.Tokens())
	patch := 2 * (n - 1) * int64(c.PatchDim()) * int64(c.Vision.Width)
	return patch + towerFLOPs(c.Vision, c.Tokens()) + 2*int64(c.Vision.Width)*int64(c.EmbedDim)
}

// TextFLOPs is the text tower's cost for a query of n tokens (start and end
// token included); the engine stops at the end token.
func (c *Config) TextFLOPs(n int) int64 {
	return towerFLOPs(c.Text, n) + 2*int64(c.Text.Width)*int64(c.EmbedDim)
}
