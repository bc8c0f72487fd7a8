package daemon

import (
	"fmt"
	"pitweet/config"
	"time"

	"pitweet/outbox"
)

// X refuses a post whose text is the same as a recent one of the account.
// For a message that may have reached X before (an attempt whose answer
// was lost, or one queued by a run that died), that refusal means X has
// this very message: it counts as delivered, and that is what makes
// delivery exactly-once. For a message never sent before, the earlier post
// was another message with the same text: a second ring of a doorbell
// whose text shows only the minute, say. Dropping the press would lose it,
// so the daemon adds a number, " (2)", " (3)", …, writes the new text to
// the outbox as that destination's own text before it sends it (so a lost
// answer is retried with the same text, and a duplicate then still means
// delivered), and posts again. The other destinations of the message post
// it as it was: the number is X's alone. Any destination that answers
// with a duplicate refusal (sender.KindDuplicate) is handled the same way.
//
// Each delivery loop remembers, for a day, the texts its destination has
// taken or refused as duplicates in this run, and numbers a new message
// whose text is among them before its first send, so a repeated text
// costs one request, not one per number. It gives up on a message (a dead
// letter) after maxDuplicateRefusals refusals of its numbered texts: a
// server that calls everything a duplicate is not worth more requests.

// maxDuplicateRefusals is how many duplicate refusals of a message that was
// never sent before the daemon answers with a new number.
const maxDuplicateRefusals = 10

// postedFor is how long a text a destination took is remembered.
const postedFor = 24 * time.Hour

// maxPostedTexts bounds the memory of texts a destination has.
const maxPostedTexts = 1024

// postedTexts is the set of texts a destination is known to have, with
// when it was last seen.
type postedTexts map[string]time.Time

func (p postedTexts) has(text string, now time.Time) bool {
	at, ok := p[text]
	return ok && now.Sub(at) < postedFor
}

// add remembers text, forgetting what is older than a day and, beyond
// maxPostedTexts, the oldest.
func (p postedTexts) add(text string, now time.Time) {
	p[text] = now
	if len(p) <= maxPostedTexts {
		return
	}
	var oldest string
	for t, at := range p {
		if now.Sub(at) >= postedFor {
			delete(p, t)
			continue
		}
		if oldest == "" || at.Before(p[oldest]) {
			oldest = t
		}
	}
	if len(p) > maxPostedTexts {
		delete(p, oldest)
	}
}

// numbered is text with " (n)" added, shortened first if the number would
// not fit in a post as rule counts it.
func numbered(text string, n int, rule config.TextRule) string {
	suffix := fmt.Sprintf(" (%d)", n)
	if rule.Length != nil && rule.Length(text+suffix) > rule.Max {
		text = rule.Truncate(text, rule.Max-rule.Length(suffix))
	}
	return text + suffix
}

// renumbered is what a delivery loop knows of a message it numbered in
// this run: the text it had, the number it has now, and how many of its
// texts the destination refused.
type renumbered struct {
	base    string
	n       int
	refused int
}

// numbering returns what is known of m's numbers; a message not numbered
// yet is its own base, number 1.
func (d *deliverer) numbering(m outbox.Message) renumbered {
	if r, ok := d.numbers[m.ID]; ok {
		return r
	}
	return renumbered{base: m.TextFor(d.name), n: 1}
}

// renumber gives message m the next number whose text the destination is
// not known to have, on disk first, as the destination's own text. It
// returns the rewritten message.
func (d *deliverer) renumber(m outbox.Message, now time.Time) (outbox.Message, error) {
	r := d.numbering(m)
	old := m.TextFor(d.name)
	text := old
	for text == old || d.posted.has(text, now) {
		r.n++
		text = numbered(r.base, r.n, d.text)
	}
	m2, err := d.box.Rewrite(m.ID, d.name, text)
	if err != nil {
		return m, err
	}
	d.numbers[m.ID] = r
	delete(d.mayBeSent, m.ID) // the new text has never been sent
	d.log.Info("daemon: the service already has this text from an earlier post; posting it with a number added",
		"id", m.ID, "source", m.Source, "text", text)
	return m2, nil
}
