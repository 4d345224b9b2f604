package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

// writeCert issues a certificate (self-signed when parent is nil) and
// writes cert and key PEM files into dir.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestTLSWithClientCertificate(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // mosquitto may read as another user
	now := time.Now()
	ca, caKey := writeCert(t, dir, "ca", &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgeclip test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	writeCert(t, dir, "server", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker.test"},
		DNSNames: []string{"broker.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, caKey)
	writeCert(t, dir, "client", &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "cam1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, caKey)
	p := func(n string) string { return filepath.Join(dir, n) }
	m := mqtttest.Start(t, mqtttest.Config{TLS: &mqtttest.TLSFiles{CAFile: p("ca.pem"), CertFile: p("server.pem"), KeyFile: p("server.key"), RequireClientCert: true}})

	c := startClient(t, m.URL(), &mqtttest.Handler{}, func(o *mqtt.Options) {
		o.TLS = mqtt.TLSOptions{CAFile: p("ca.pem"), CertFile: p("client.pem"), KeyFile: p("client.key"), ServerName: "broker.test"}
	})
	if !c.Connected() {
		t.Fatal("not connected over TLS")
	}
	reps, err := mqtt.QueryFleet(t.Context(), mqtt.ConnOptions{Broker: m.URL(), Logger: testLogger(),
		TLS: mqtt.TLSOptions{CAFile: p("ca.pem"), CertFile: p("client.pem"), KeyFile: p("client.key"), ServerName: "broker.test"}},
		"cam1", mqtt.QueryRequest{Text: "over tls"}, 10*time.Second)
	if err != nil || len(reps) != 1 || reps[0].Reply == nil {
		t.Fatalf("query over TLS: %+v, %v", reps, err)
	}
	_, err = mqtt.QueryFleet(t.Context(), mqtt.ConnOptions{Broker: m.URL(), Logger: testLogger(),
		TLS: mqtt.TLSOptions{CAFile: p("ca.pem"), ServerName: "broker.test"}}, "cam1", mqtt.QueryRequest{Text: "x"}, 3*time.Second)
	if err == nil {
		t.Fatal("a client without a certificate was let in")
	}
}
