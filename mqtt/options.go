package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options configure a Client. The zero value (or nil) works: a broker on
// tcp://127.0.0.1:1883, the host name as device id, no outbox directory.
type Options struct {
	// Broker is the server URL: tcp://host:port, ssl:// or tls:// (TLS),
	// ws:// or wss://. Default tcp://127.0.0.1:1883.
	Broker string
	// DeviceID names this device in topics and replies. Default: the host
	// name, reduced to A-Z a-z 0-9 _ -. "all" is reserved for broadcasts.
	DeviceID string
	// ClientID is the MQTT client id. Default "edgeclip-<device id>".
	ClientID string
	// Root is the first topic level shared by the fleet. Default "edgeclip".
	Root string
	// Prefix is put before every topic of this device. Default
	// "<root>/<device id>/".
	Prefix string

	Username string
	Password string
	TLS      TLSOptions

	Limits Limits

	// Workers handle requests concurrently (default 4); QueueLen more may
	// wait (default 16). A request beyond that gets a busy error.
	Workers  int
	QueueLen int
	// HandlerTimeout bounds one Handler call. Default 30 s.
	HandlerTimeout time.Duration
	// DedupSize is how many recent request ids are remembered so that a
	// redelivered request is answered once. Default 4096.
	DedupSize int

	// OutboxDir keeps replies and alert events that could not be sent, on
	// disk, across restarts. Empty: they are kept in memory only.
	OutboxDir string
	// OutboxMaxMessages and OutboxMaxBytes bound the outbox (default 10000
	// messages, 16 MiB).
	OutboxMaxMessages int
	OutboxMaxBytes    int64
	// PublishTimeout is how long to wait for the broker's PUBACK before the
	// message goes to the outbox. Default 10 s.
	PublishTimeout time.Duration

	KeepAlive            time.Duration // default 30 s
	ConnectTimeout       time.Duration // default 10 s
	MaxReconnectInterval time.Duration // default 10 s
	// CleanSession drops the broker-side session on connect. The default,
	// false, lets the broker keep queries sent while we were away.
	CleanSession bool

	// Takeover tunes the client-id takeover loop detector; see Takeover.
	Takeover TakeoverOptions

	// HomeAssistant, when set, publishes discovery configs on connect.
	HomeAssistant *HAOptions

	// Status is the initial retained "online" status (version, model...).
	Status Status

	Logger *slog.Logger // default slog.Default()
}

// TLSOptions configure TLS; file paths come from the operator's config.
type TLSOptions struct {
	CAFile     string // PEM CA bundle; default the system pool
	CertFile   string // client certificate (PEM), with KeyFile
	KeyFile    string
	ServerName string // overrides the host name checked in the certificate
	// InsecureSkipVerify disables certificate checks (tests only).
	InsecureSkipVerify bool
}

func (t TLSOptions) enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// config builds the tls.Config, reading the files now so a bad path fails at
// start-up rather than on the first reconnect.
func (t TLSOptions) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: tls CA %s: %w", t.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: tls CA %s: no PEM certificates", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("mqtt: tls: a client certificate needs both CertFile and KeyFile")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: tls client certificate %s: %w", t.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// withDefaults fills the documented defaults and checks what can be checked
// without a network.
func (o Options) withDefaults() (Options, error) {
	if o.Broker == "" {
		o.Broker = "tcp://127.0.0.1:1883"
	}
	if o.DeviceID == "" {
		h, _ := os.Hostname()
		o.DeviceID = sanitizeName(h)
	}
	if !isName(o.DeviceID, 64, "") || o.DeviceID == "all" {
		return o, fmt.Errorf("mqtt: device id %q: want 1 to 64 characters of A-Z a-z 0-9 _ -, not \"all\"", o.DeviceID)
	}
	if o.ClientID == "" {
		o.ClientID = "edgeclip-" + o.DeviceID
	}
	if o.Root == "" {
		o.Root = "edgeclip"
	}
	if strings.ContainsAny(o.Root, "+#") || strings.HasSuffix(o.Root, "/") {
		return o, fmt.Errorf("mqtt: topic root %q: no wildcards or trailing /", o.Root)
	}
	if o.Prefix == "" {
		o.Prefix = o.Root + "/" + o.DeviceID + "/"
	}
	if !strings.HasSuffix(o.Prefix, "/") || strings.ContainsAny(o.Prefix, "+#") {
		return o, fmt.Errorf("mqtt: topic prefix %q: must end in / and have no wildcards", o.Prefix)
	}
	o.Limits = o.Limits.withDefaults()
	setDefault(&o.Workers, 4)
	setDefault(&o.QueueLen, 16)
	setDefault(&o.DedupSize, 4096)
	setDefault(&o.OutboxMaxMessages, 10000)
	setDefault(&o.OutboxMaxBytes, 16<<20)
	setDefault(&o.HandlerTimeout, 30*time.Second)
	setDefault(&o.PublishTimeout, 10*time.Second)
	setDefault(&o.KeepAlive, 30*time.Second)
	setDefault(&o.ConnectTimeout, 10*time.Second)
	setDefault(&o.MaxReconnectInterval, 10*time.Second)
	o.Takeover = o.Takeover.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isName(string(r), 1, "") {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 || b.Len() > 64 {
		return "edgeclip"
	}
	return b.String()
}

// plainCredentialsRisk reports why credentials would cross the network in
// the clear: a password over tcp:// or ws:// to a host that is not loopback.
func plainCredentialsRisk(broker, username, password string, tlsOn bool) (string, bool) {
	if username == "" && password == "" {
		return "", false
	}
	u, err := url.Parse(broker)
	if err != nil {
		return "", false
	}
	if tlsOn || u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "wss" {
		return "", false
	}
	host := u.Hostname()
	if host == "localhost" {
		return "", false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "", false
	}
	return fmt.Sprintf("credentials for %q will be sent in clear text to %s; use ssl:// or TLS options", username, u.Host), true
}
