package gateway

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"pitweet/gateway/mosquittotest"
)

// The broker's certificate is verified: without its CA in ca_file the
// handshake fails and says what to do; with it, it succeeds.
func TestTLSVerified(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"u": "p"}})
	ctx := context.Background()

	s, err := check(Config{Broker: b.TLSURL(), Hostname: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := s.dial(ctx); err == nil {
		conn.Close()
		t.Fatal("TLS handshake succeeded with a certificate no trusted CA signed")
	} else if !strings.Contains(err.Error(), "not trusted (set ca_file") {
		t.Errorf("error %q does not say to set ca_file", err)
	}

	s, err = check(Config{Broker: b.TLSURL(), CAFile: b.CAFile, Hostname: "k"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.dial(ctx)
	if err != nil {
		t.Fatalf("TLS with ca_file: %v", err)
	}
	conn.Close()

	// mqtts to the plain listener: the handshake fails.
	s, err = check(Config{Broker: strings.Replace(b.URL(), "mqtt://", "mqtts://", 1), CAFile: b.CAFile, Hostname: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := s.dial(ctx); err == nil {
		conn.Close()
		t.Error("TLS handshake with a plain MQTT listener succeeded")
	}
}

// A wrong password is refused by the broker with an error that says where
// the password lives, and without it.
func TestLoginRefused(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"u": "right"}})
	g, err := New(Config{Broker: b.URL(), Username: "u", Password: "wrong-secret", Hostname: "k"})
	if err != nil {
		t.Fatal(err)
	}
	err = g.connection(context.Background())
	if err == nil || !strings.Contains(err.Error(), "mqtt_password") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error %v; want one that names mqtt_password and not the password", err)
	}
}

// A broker that is not there: the error names it and says what to check.
func TestBrokerNotThere(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := check(Config{Broker: "mqtt://" + addr, Hostname: "k"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.dial(context.Background())
	if err == nil {
		conn.Close()
		t.Fatalf("connected to %s, where nothing listens", addr)
	}
	if want := "gateway: connect to broker " + addr + " (is it running and reachable from here? [mqtt] broker names it): "; !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %q; want it to start %q and wrap the refusal", err, want)
	}
}
