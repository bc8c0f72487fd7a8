package gateway

import (
	"context"
	"errors"
	"fmt"

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
	if err := CheckTopicPrefix("forward", poster); err != nil {
		return err
	}
	payload, err := EncodeCommand(c)
	if err != nil {
		return err
	}
	topic := poster + "/post"
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
		pr, err := cli.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: 1})
		switch {
		case pr != nil && pr.ReasonCode >= 0x80:
			e := &ForwardRefused{Topic: topic, Code: pr.ReasonCode}
			if pr.Properties != nil {
				e.Reason = pr.Properties.ReasonString
			}
			return e
		case err != nil:
			return fmt.Errorf("gateway: forward %s to %s: %w", c.ID, topic, err)
		case pr.ReasonCode == 0x10: // No matching subscribers
			return fmt.Errorf("gateway: forward %s to %s: %w", c.ID, topic, ErrNoPoster)
		}
		return nil
	}
}
