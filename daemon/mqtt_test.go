//go:build linux

package daemon

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"pitweet/config"
	"pitweet/gateway"
	"pitweet/gateway/mosquittotest"
	"pitweet/hw/fakehw"
	"pitweet/outbox"
)

// testCard is a JPEG for the tests, w×h pixels.
func testCardSized(t *testing.T, w, h int) []byte {
	t.Helper()
	b, err := fakehw.TestCard(w, h, 1, fakehw.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commandRunner is a runner with an outbox and cfg, as the command
// handler sees it.
func commandRunner(t *testing.T, cfgText string) *runner {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	cfg, err := config.Parse([]byte(cfgText), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	d := &runner{log: testLog(t), box: box, dirty: make(chan struct{}, 1)}
	d.cfgNow.Store(cfg)
	return d
}

// The command handler queues a command with its pictures under its id;
// the same id again is acknowledged and not queued twice; what can never
// be queued is refused; a state directory that fails is returned as it is,
// so that the command is not acknowledged.
func TestCommandHandler(t *testing.T) {
	d := commandRunner(t, "[x]\n[mqtt]\nbroker = \"mqtt://b\"\ncommands = true\n")
	ctx := context.Background()
	pic := testCardSized(t, 64, 48)
	c := gateway.Command{ID: "ha:1", Text: "the porch", Pictures: []gateway.Picture{{Data: pic, Alt: "the porch at night"}, {Data: pic}}}
	if err := d.command(ctx, c); err != nil {
		t.Fatal(err)
	}
	queued := d.box.Pending()
	if len(queued) != 1 {
		t.Fatalf("%d queued; want 1", len(queued))
	}
	m := queued[0]
	if m.Kind != "command" || m.Key != "ha:1" || m.Text != "the porch" || len(m.To) != 1 || m.To[0] != "x" ||
		len(m.Images) != 2 || m.Images[0].Alt != "the porch at night" || m.Images[0].Type != "image/jpeg" || m.Images[1].Width != 64 {
		t.Errorf("queued %+v", m)
	}
	c.Redelivered = true
	if err := d.command(ctx, c); err != nil || d.box.Len() != 1 {
		t.Errorf("the same id again: %v, %d queued; want nil and still 1", err, d.box.Len())
	}

	for _, tt := range []struct {
		c    gateway.Command
		want string
	}{
		{gateway.Command{ID: "a", Text: "t", To: []string{"bluesky"}}, `destination "bluesky" is not configured here; configured: x`},
		{gateway.Command{ID: "b", Text: strings.Repeat("é", 281)}, "counts 281 characters as X counts them"},
		{gateway.Command{ID: "c", Text: "t", Pictures: []gateway.Picture{{Data: []byte("not a picture")}}}, "picture 1"},
		{gateway.Command{ID: "d", Text: " \n"}, "no text"},
	} {
		err := d.command(ctx, tt.c)
		var r *gateway.Refusal
		if !errors.As(err, &r) || !strings.Contains(r.Reason, tt.want) {
			t.Errorf("%s: %v; want a refusal saying %q", tt.c.ID, err, tt.want)
		}
	}
	if d.box.Len() != 1 {
		t.Errorf("%d queued after the refusals; want 1", d.box.Len())
	}

	d.box.Close()
	err := d.command(ctx, gateway.Command{ID: "e", Text: "t"})
	var r *gateway.Refusal
	if !errors.Is(err, outbox.ErrClosed) || errors.As(err, &r) {
		t.Errorf("with the outbox closed: %v; want its error, not a refusal", err)
	}
}

// A fleet member's command handler, if it takes commands, posts only to
// where it posts itself: never forward again.
func TestCommandHandlerMember(t *testing.T) {
	d := commandRunner(t, "[mqtt]\nbroker = \"mqtt://b\"\ncommands = true\nforward = \"pitweet/poster\"\n")
	for _, c := range []gateway.Command{{ID: "a", Text: "t"}, {ID: "b", Text: "t", To: []string{"forward"}}} {
		err := d.command(context.Background(), c)
		var r *gateway.Refusal
		if !errors.As(err, &r) || !strings.Contains(r.Reason, "forward") {
			t.Errorf("%+v: %v; want a refusal", c, err)
		}
	}
}

func TestCommandID(t *testing.T) {
	for in, want := range map[string]string{
		"pitweet-shed":  "pitweet-shed:00000000000000000017",
		"shed #2 (a+b)": "shed__2__a_b_:00000000000000000017",
	} {
		got := commandID(in, "00000000000000000017")
		if got != want {
			t.Errorf("commandID(%q) = %q, want %q", in, got, want)
		}
		if err := (gateway.Command{ID: got, Text: "t"}).Check(); err != nil {
			t.Errorf("%q is no command id: %v", got, err)
		}
	}
}

// The destination forward sends a message with its pictures, read from
// the outbox, to the poster's command topic; a broker that refuses the
// topic is a refusal for good, a broker away a failure to retry.
func TestForwardDestination(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{
		Users: map[string]string{"shed": "s", "poster": "p"},
		ACL:   "user shed\ntopic readwrite pitweet/shed/#\ntopic write pitweet/poster/post\nuser poster\ntopic readwrite pitweet/poster/#\n",
	})
	got := make(chan gateway.Command, 1)
	poster, err := gateway.New(gateway.Config{Broker: b.URL(), Username: "poster", Password: "p", Hostname: "poster", Commands: true,
		Handler: func(ctx context.Context, c gateway.Command) error { got <- c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	shed, err := gateway.New(gateway.Config{Broker: b.URL(), Username: "shed", Password: "s", Hostname: "shed"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, g := range []*gateway.Gateway{poster, shed} {
		go func() { g.Run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() { cancel(); <-done; <-done })
	for _, g := range []*gateway.Gateway{poster, shed} {
		deadline := time.Now().Add(20 * time.Second)
		for !g.Status().Connected {
			if time.Now().After(deadline) {
				t.Fatalf("%s not connected: %+v", g.ClientID(), g.Status())
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
		}
	}

	box, err := outbox.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	pic := testCardSized(t, 64, 48)
	m, err := box.Put(outbox.Message{Text: "the shed door", To: []string{"forward"}}, []outbox.NewImage{{Data: pic, Alt: "the door"}, {Data: pic}})
	if err != nil {
		t.Fatal(err)
	}
	del := &deliverer{name: "forward", box: box}
	p := del.post(m)
	f := newForwardDestination("pitweet/poster", func() forwarder { return shed })
	rc, err := f.Post(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := <-got
	if rc.Ref != "pitweet-shed:"+m.ID || c.ID != rc.Ref || c.Text != "the shed door" || len(c.Pictures) != 2 ||
		!bytes.Equal(c.Pictures[0].Data, pic) || c.Pictures[0].Alt != "the door" || !bytes.Equal(c.Pictures[1].Data, pic) {
		t.Errorf("receipt %+v; the poster got %s %q with %d pictures", rc, c.ID, c.Text, len(c.Pictures))
	}

	// The ACL does not let the shed write the kitchen's commands.
	f = newForwardDestination("pitweet/kitchen", func() forwarder { return shed })
	var perm permanentError
	if _, err := f.Post(context.Background(), p, 0); !errors.As(err, &perm) || !strings.Contains(err.Error(), "0x87") {
		t.Errorf("forward to a topic the ACL denies: %v; want a refusal for good (0x87)", err)
	}
	// No gateway, or a broker away: try again later.
	f = newForwardDestination("pitweet/poster", func() forwarder { return nil })
	if _, err := f.Post(context.Background(), p, 0); err == nil || errors.As(err, &perm) {
		t.Errorf("forward without a gateway: %v; want a failure to retry", err)
	}
	b.Stop()
	f = newForwardDestination("pitweet/poster", func() forwarder { return shed })
	f.timeout = time.Second
	if _, err := f.Post(context.Background(), p, 0); err == nil || errors.As(err, &perm) {
		t.Errorf("forward with the broker away: %v; want a failure to retry", err)
	}
}
