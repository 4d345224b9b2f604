package world

import "math"

// ss is the supersampling factor per axis: each pixel averages ss×ss point
// tests, which anti-aliases edges without a rasteriser library.
const ss = 3

// Render draws the scene into dst (RGB, row-major, w*h*3 bytes). Objects are
// placed by their fractional coordinates, so any resolution works. It panics
// only if dst is too short, which is a programming error.
func Render(sc *Scene, w, h int, dst []byte) {
	buf := make([]float32, w*h*3)
	background(sc, w, h, buf)
	for i := range sc.Objects {
		drawObject(&sc.Objects[i], w, h, buf)
	}
	if sc.Blur {
		blur(buf, w, h)
	}
	rs := sc.NoiseSeed | 1
	for i := range buf {
		v := buf[i]*sc.Gain + sc.Offset
		if sc.Noise > 0 {
			// Sum of two uniforms: a cheap, bell-shaped noise with unit-ish spread.
			rs ^= rs << 13
			rs ^= rs >> 7
			rs ^= rs << 17
			a := float32(rs&0xffff)/65536 + float32(rs>>16&0xffff)/65536 - 1
			v += a * sc.Noise * 2.4
		}
		dst[i] = byte(clamp255(v + 0.5))
	}
}

func background(sc *Scene, w, h int, buf []float32) {
	// Separable tables: sin(a+b) = sin a cos b + cos a sin b keeps the
	// per-pixel cost to a few multiplies.
	sx, cx := make([]float32, w), make([]float32, w)
	sy, cy := make([]float32, h), make([]float32, h)
	for x := range w {
		a := float64((float32(x) + 0.5) / float32(w) / sc.Period * math.Pi)
		sx[x], cx[x] = float32(math.Sin(a)), float32(math.Cos(a))
	}
	for y := range h {
		a := float64((float32(y) + 0.5) / float32(h) / sc.Period * math.Pi)
		sy[y], cy[y] = float32(math.Sin(a)), float32(math.Cos(a))
	}
	for y := 0; y < h; y++ {
		fy := (float32(y) + 0.5) / float32(h)
		for x := 0; x < w; x++ {
			t := float32(0)
			if sc.Background == BgTextured {
				switch sc.Pattern {
				case 0: // diagonal stripes
					t = 0.5 + 0.5*(sx[x]*cy[y]+cx[x]*sy[y])
				case 1: // soft checker
					t = 0.5 + 0.5*sx[x]*sy[y]
				default: // gradient
					t = 0.5*(float32(x)+0.5)/float32(w) + 0.5*fy
				}
			}
			p := (y*w + x) * 3
			for c := range 3 {
				buf[p+c] = sc.BgRGB[c] + t*(sc.BgAlt[c]-sc.BgRGB[c])
			}
		}
	}
}

// bbox is the object's pixel bounding box [x0, x1) × [y0, y1), clipped.
func bbox(o Object, n int) (x0, y0, x1, y1 int) {
	clip := func(v float32) int {
		i := int(math.Floor(float64(v * float32(n))))
		return max(0, min(n, i))
	}
	return clip(o.X - o.R), clip(o.Y - o.R), min(n, clip(o.X+o.R)+1), min(n, clip(o.Y+o.R)+1)
}

func drawObject(o *Object, w, h int, buf []float32) {
	x0 := max(0, int((o.X-o.R)*float32(w))-1)
	x1 := min(w, int((o.X+o.R)*float32(w))+2)
	y0 := max(0, int((o.Y-o.R)*float32(h))-1)
	y1 := min(h, int((o.Y+o.R)*float32(h))+2)
	// Pixel (x, y) sub-sample (i, j) is at ((x + (i+0.5)/ss) / w - X) / R.
	su, sv := 1/(o.R*float32(w)), 1/(o.R*float32(h))
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			// Pixels whose four corners agree are wholly inside or outside
			// (every shape's features are wider than a pixel); only edge
			// pixels pay for supersampling.
			u0, u1 := float32(x)*su-o.X/o.R, float32(x+1)*su-o.X/o.R
			v0, v1 := float32(y)*sv-o.Y/o.R, float32(y+1)*sv-o.Y/o.R
			c := inside(o.Shape, u0, v0)
			if c == inside(o.Shape, u1, v0) && c == inside(o.Shape, u0, v1) && c == inside(o.Shape, u1, v1) &&
				c == inside(o.Shape, (u0+u1)/2, (v0+v1)/2) {
				if c {
					p := (y*w + x) * 3
					for k := range 3 {
						buf[p+k] = o.RGB[k]
					}
				}
				continue
			}
			hits := 0
			for j := 0; j < ss; j++ {
				v := (float32(y)+(float32(j)+0.5)/ss)*sv - o.Y/o.R
				for i := 0; i < ss; i++ {
					u := (float32(x)+(float32(i)+0.5)/ss)*su - o.X/o.R
					if inside(o.Shape, u, v) {
						hits++
					}
				}
			}
			if hits == 0 {
				continue
			}
			a := float32(hits) / (ss * ss)
			p := (y*w + x) * 3
			for c := range 3 {
				buf[p+c] += a * (o.RGB[c] - buf[p+c])
			}
		}
	}
}

// Star geometry: tip at radius 1, inner vertices at starInner.
const starInner = 0.42

var (
	starInX  = starInner * math.Cos(math.Pi/5)
	starInY  = starInner * math.Sin(math.Pi/5)
	starEdge = float32(starInY / (starInX - 1)) // slope of the tip→inner edge
)

// inside reports whether (u, v), in units of the object's radius with v
// pointing down, lies inside the shape. Areas are roughly balanced so that
// size does not give the shape away.
func inside(shape int, u, v float32) bool {
	au, av := abs32(u), abs32(v)
	switch shape {
	case 0: // circle
		return u*u+v*v <= 0.9
	case 1: // square
		return au <= 0.8 && av <= 0.8
	case 2: // triangle, pointing up
		return v <= 0.72 && v >= -1+1.72*au/0.99
	case 3: // five-pointed star, tip up
		r2 := u*u + v*v
		if r2 > 1 {
			return false
		}
		if r2 <= starInner*starInner*0.8 {
			return true
		}
		// Fold the angle (0 at the top) into [0, π/5] and test against the
		// edge from the tip (1, 0) to the inner vertex.
		t := math.Mod(math.Atan2(float64(u), float64(-v))+2*math.Pi, 2*math.Pi/5)
		if t > math.Pi/5 {
			t = 2*math.Pi/5 - t
		}
		r := math.Sqrt(float64(r2))
		px, py := float32(r*math.Cos(t)), float32(r*math.Sin(t))
		// Inside when below the line through (1,0) with slope starEdge.
		return py <= starEdge*(px-1)
	case 4: // cross (plus sign)
		return (au <= 0.32 && av <= 0.95) || (av <= 0.32 && au <= 0.95)
	case 5: // hexagon, flat top
		return av <= 0.82 && 1.7320508*au+av <= 1.64
	case 6: // diamond
		return au+av <= 1.0
	case 7: // ring
		r2 := u*u + v*v
		return r2 <= 1 && r2 >= 0.36
	}
	return false
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// blur applies a separable [1 2 1]/4 kernel with clamped edges.
func blur(buf []float32, w, h int) {
	tmp := make([]float32, len(buf))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			l, r := max(0, x-1), min(w-1, x+1)
			for c := range 3 {
				tmp[(y*w+x)*3+c] = (buf[(y*w+l)*3+c] + 2*buf[(y*w+x)*3+c] + buf[(y*w+r)*3+c]) / 4
			}
		}
	}
	for y := 0; y < h; y++ {
		u, d := max(0, y-1), min(h-1, y+1)
		for x := 0; x < w; x++ {
			for c := range 3 {
				buf[(y*w+x)*3+c] = (tmp[(u*w+x)*3+c] + 2*tmp[(y*w+x)*3+c] + tmp[(d*w+x)*3+c]) / 4
			}
		}
	}
}
