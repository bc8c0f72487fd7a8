package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// ErrNoPoster is returned by Forward when the broker knows no subscriber of
// the poster's command topic: the command was not kept, so it must be sent
// again later. The poster is not running, or runs without commands = true.
var ErrNoPoster = errors.New("gateway: no poster is subscribed to the command topic (is the poster running with [mqtt] commands = true?)")

// ForwardRefused is the error of a command the broker refused to take (its
// PUBACK reason code is a failure). Sending it again will not help until
// the broker's configuration changes: most often the ACL does not let this
// account write the poster's command topic.
type ForwardRefused struct {
	Topic  string
	Code   byte
	Reason string
}

func (e *ForwardRefused) Error() string {
	msg := fmt.Sprintf("gateway: the broker refused the command on %s (reason code %#02x", e.Topic, e.Code)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	msg += ")"
	if e.Code == 0x87 {
		msg += "; let this account write it in the broker's ACL"
	}
	return msg
}

// Forward publishes c on <poster>/post (poster is the poster's topic
// prefix, [mqtt] forward) with QoS 1, and returns nil only once the broker
// has acknowledged it (PUBACK) with at least one subscriber: from then on
// the broker holds it for the poster. While not connected it waits for
// the connection until ctx is done. Its errors are to be retried later,
// except a *ForwardRefused. The poster recognises a command sent twice by
// its id.
func (g *Gateway) Forward(ctx context.Context, poster string, c Command) error {
	topic, payload, err := forwardMessage(poster, c)
	if err != nil {
		return err
	}
	for {
		g.mu.Lock()
		cli, up := g.cli, g.up
		g.mu.Unlock()
		if cli == nil {
			select {
			case <-up:
				continue
			case <-ctx.Done():
				return fmt.Errorf("gateway: forward %s: not connected to the broker: %w", c.ID, ctx.Err())
			}
		}
		return publishCommand(ctx, cli, topic, payload, c.ID)
	}
}

// ForwardOnce is Forward on a connection of its own, made for this one
// command and closed after it: for a post from the command line while
// the daemon keeps the gateway's connection. It connects under the
// gateway's client id with "-post" added, with a clean session, no will
// and no status: the broker keeps nothing of it.
func (g *Gateway) ForwardOnce(ctx context.Context, poster string, c Command) error {
	topic, payload, err := forwardMessage(poster, c)
	if err != nil {
		return err
	}
	g.mu.Lock()
	s := g.s
	g.mu.Unlock()
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	id := s.ClientID
	if len(id) > 64-len("-post") {
		id = id[:64-len("-post")]
	}
	id += "-post"
	cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: packets.NewThreadSafeConn(conn), PacketTimeout: packetTimeout})
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	ca, err := cli.Connect(cctx, &paho.Connect{
		ClientID: id, KeepAlive: keepAlive, CleanStart: true,
		Username: s.Username, UsernameFlag: s.Username != "",
		Password: []byte(s.Password), PasswordFlag: s.Password != "",
	})
	cancel()
	if err != nil {
		return connectError(s, ca, err)
	}
	defer cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
	return publishCommand(ctx, cli, topic, payload, c.ID)
}

// forwardMessage is where and what Forward publishes.
func forwardMessage(poster string, c Command) (topic string, payload []byte, err error) {
	if err := CheckTopicPrefix("forward", poster); err != nil {
		return "", nil, err
	}
	payload, err = EncodeCommand(c)
	if err != nil {
		return "", nil, err
	}
	return poster + "/post", payload, nil
}

// publishCommand publishes a command with QoS 1 and says what the PUBACK
// means.
func publishCommand(ctx context.Context, cli *paho.Client, topic string, payload []byte, id string) error {
	pr, err := cli.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: 1})
	switch {
	case pr != nil && pr.ReasonCode >= 0x80:
		e := &ForwardRefused{Topic: topic, Code: pr.ReasonCode}
		if pr.Properties != nil {
			e.Reason = pr.Properties.ReasonString
		}
		return e
	case err != nil:
		return fmt.Errorf("gateway: forward %s to %s: %w", id, topic, err)
	case pr.ReasonCode == 0x10: // No matching subscribers
		return fmt.Errorf("gateway: forward %s to %s: %w", id, topic, ErrNoPoster)
	}
	return nil
}
