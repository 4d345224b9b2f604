package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	// Addr is the TCP listen address, default 127.0.0.1:1883; port 0 picks a
	// free port. It must be a loopback address: the embedded broker lets
	// every client in, which is only safe on the machine itself.
	Addr string
	// Logger receives the broker's logs; default warnings and errors to stderr.
	Logger *slog.Logger
}

// Broker is a running embedded broker (mochi-mqtt).
type Broker struct {
	srv  *mochi.Server
	addr string
	once sync.Once
	err  error
	stop context.CancelFunc
}

// StartBroker starts an embedded MQTT broker so that a device with no broker
// configured, and the CLI on the same machine, work out of the box. It stops
// on Close or when ctx is done.
func StartBroker(ctx context.Context, opts BrokerOptions) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:1883"
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker address %q: %w", opts.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("mqtt: broker address %q: the embedded broker allows anonymous clients and only listens on loopback", opts.Addr)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	srv := mochi.New(&mochi.Options{Logger: opts.Logger})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet("edgeclip", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	b := &Broker{srv: srv, addr: ln.Addr().String()}
	ctx, b.stop = context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		b.Close()
	}()
	return b, nil
}

// Addr is the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as a client URL, tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker and disconnects its clients.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.stop()
		if err := b.srv.Close(); err != nil {
			b.err = fmt.Errorf("mqtt: broker %s: %w", b.addr, err)
		}
	})
	return b.err
}
