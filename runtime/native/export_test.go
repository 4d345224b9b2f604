package native

import (
	"fmt"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// Test hooks for the external tests in package native_test (which may
// import models/quantize, itself an importer of this package).

type namedLinear struct {
	l    *linear
	bias string
}

// linears maps every linear weight name of m to its layer and bias name.
func (m *model) linears() map[string]namedLinear {
	out := map[string]namedLinear{
		arch.VisPatch: {&m.patch, ""}, arch.VisProj: {&m.vproj, ""}, arch.TxtProj: {&m.tproj, ""},
	}
	for _, tw := range []struct {
		prefix string
		t      *tower
	}{{arch.VisionPrefix, &m.vis}, {arch.TextPrefix, &m.txt}} {
		for i := range tw.t.blocks {
			b, n := &tw.t.blocks[i], arch.BlockNames(tw.prefix, i)
			out[n.QKVW] = namedLinear{&b.qkv, n.QKVB}
			out[n.OutW] = namedLinear{&b.out, n.OutB}
			out[n.FC1W] = namedLinear{&b.fc1, n.FC1B}
			out[n.FC2W] = namedLinear{&b.fc2, n.FC2B}
		}
	}
	return out
}

func sessionLinear(s runtime.Session, name string) (*session, namedLinear, error) {
	ns, ok := s.(*session)
	if !ok {
		return nil, namedLinear{}, fmt.Errorf("%T is not a native session", s)
	}
	nl, ok := ns.m.linears()[name]
	if !ok {
		return nil, namedLinear{}, fmt.Errorf("no linear layer %q", name)
	}
	return ns, nl, nil
}

// PackedKinds names the arithmetic every linear layer of a native session
// was packed for: "f32", "w8" or "w8a8".
func PackedKinds(s runtime.Session) map[string]string {
	ns := s.(*session)
	out := map[string]string{}
	for name, nl := range ns.m.linears() {
		switch {
		case nl.l.f32 != nil:
			out[name] = "f32"
		case nl.l.w8 != nil:
			out[name] = "w8"
		case nl.l.w8a8 != nil:
			out[name] = "w8a8"
		}
	}
	return out
}

// LinearForward runs one layer of a native session, as the encoders do,
// on rows×in inputs x.
func LinearForward(s runtime.Session, name string, x []float32, rows int) ([]float32, error) {
	ns, nl, err := sessionLinear(s, name)
	if err != nil {
		return nil, err
	}
	if len(x) != rows*nl.l.in {
		return nil, fmt.Errorf("%d inputs for %d rows of %d", len(x), rows, nl.l.in)
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	y := make([]float32, rows*nl.l.out)
	ns.linear(nl.l, x, rows, y)
	return y, nil
}

// RepackF32 replaces one layer of a native session by w's weight and bias
// of that name, packed for fp32.
func RepackF32(s runtime.Session, w runtime.Weights, name string) error {
	ns, nl, err := sessionLinear(s, name)
	if err != nil {
		return err
	}
	l := &loader{w: w, prec: runtime.FP32}
	lin := l.linear(name, nl.bias, nl.l.out, nl.l.in)
	if l.err != nil {
		return l.err
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	*nl.l = lin
	return nil
}
