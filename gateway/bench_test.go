package gateway_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"pitweet/gateway"
	"pitweet/gateway/mosquittotest"
	"pitweet/hw"
)

// While the broker is away, memory stays bounded: readings keep only the
// latest value of each quantity, and at most MaxQueued event messages wait
// (the oldest are dropped and counted).
func TestBoundedWhileBrokerAway(t *testing.T) {
	cfg := gateway.Config{
		Broker:   "mqtt://127.0.0.1:1", // nothing listens there
		Hostname: "kitchen",
		Sensors: []gateway.Sensor{
			{Name: "room", Quantities: []string{hw.Temperature, hw.Humidity, hw.Pressure}},
			{Name: "window", Quantities: []string{hw.Illuminance}},
		},
		Buttons: []gateway.Button{{Name: "door"}},
	}
	g := newGateway(t, cfg)
	run(t, g)

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	read := func(n int) {
		for i := range n {
			v := float64(i)
			g.Reading(hw.Reading{Sensor: "room", At: time.Now(), Values: map[string]float64{hw.Temperature: v, hw.Humidity: v, hw.Pressure: v}})
			g.Reading(hw.Reading{Sensor: "window", At: time.Now(), Values: map[string]float64{hw.Illuminance: v}})
		}
	}
	// An hour of readings every second is 3,600 a sensor; 100,000 is
	// more than a day.
	read(1000)
	before := heap()
	read(100000)
	after := heap()
	t.Logf("heap after 1,000 readings a sensor: %d KiB; after 100,000 more: %d KiB", before>>10, after>>10)
	if after > before+256<<10 {
		t.Errorf("heap grew from %d KiB to %d KiB over 100,000 readings with the broker away", before>>10, after>>10)
	}

	for range 10000 {
		g.Press(hw.Press{Button: "door", At: time.Now()})
	}
	st := g.Status()
	if st.Connected || st.Queued != gateway.MaxQueued || st.Dropped != 2*10000-gateway.MaxQueued {
		t.Errorf("after 10,000 presses with the broker away: %+v; want %d queued, %d dropped", st, gateway.MaxQueued, 2*10000-gateway.MaxQueued)
	}
	t.Logf("heap with %d events queued: %d KiB", st.Queued, heap()>>10)
}

// BenchmarkReadingToSubscriber measures the time from Reading to a
// subscriber on the same broker receiving the value (loopback).
func BenchmarkReadingToSubscriber(b *testing.B) {
	br := mosquittotest.Start(b, mosquittotest.Options{Users: users, ACL: acl})
	cfg := kitchen(br)
	cfg.Log = nil
	g, err := gateway.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	msgs := make(chan string, 16)
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(br.Port)))
	if err != nil {
		b.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			msgs <- string(pr.Packet.Payload)
			return true, nil
		}},
	})
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "bench-sub", CleanStart: true, KeepAlive: 30,
		Username: "viewer", UsernameFlag: true, Password: []byte(users["viewer"]), PasswordFlag: true}); err != nil {
		b.Fatal(err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "pitweet/kitchen/sensor/room/temperature"}}}); err != nil {
		b.Fatal(err)
	}
	// The gateway is connected once its first reading arrives.
	g.Reading(hw.Reading{Sensor: "room", Values: map[string]float64{hw.Temperature: -1}})
	for m := range msgs {
		if m == "-1.00" {
			break
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		want := fmt.Sprintf("%d.00", i)
		start := time.Now()
		g.Reading(hw.Reading{Sensor: "room", Values: map[string]float64{hw.Temperature: float64(i)}})
		for m := range msgs {
			if m == want {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
