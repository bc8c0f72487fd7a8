package sender

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"
)

// X's answer when the account's credits are used up is not documented;
// these are the shapes clients have reported (docs/specs/x.md b.2): a 402 with
// a problem whose title is CreditsDepleted and whose type is on
// api.twitter.com, the short form, and the same problem under another
// status.
func TestClassifyCreditsDepleted(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, raw := range []string{
		"HTTP/1.1 402 Payment Required\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 185\r\n\r\n" +
			`{"account_id":1243608864848629761,"title":"CreditsDepleted","detail":"Your enrolled account [1243608864848629761] does not have any credits to fulfill this request.","type":"https://api.twitter.com/2/problems/credits"}`,
		"HTTP/1.1 402 Payment Required\r\n\r\n" + `{"title":"CreditsDepleted","detail":"Your enrolled account does not have any credits"}`,
		"HTTP/1.1 402 Payment Required\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\n\r\n" + `{"title":"CreditsDepleted","detail":"no credits","type":"https://api.twitter.com/2/problems/credits"}`,
		"HTTP/1.1 400 Bad Request\r\n\r\n" + `{"title":"Payment","detail":"x","type":"https://api.x.com/2/problems/credits"}`,
	} {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		e := classify(resp, now)
		if e.Kind != KindCreditsDepleted {
			t.Errorf("%q: kind %v, want credits depleted", raw, e.Kind)
		}
		if e.Temporary() || errors.Is(e, ErrTransient) {
			t.Errorf("%q: a credits answer must not be retried as temporary", raw)
		}
		if !strings.Contains(e.Error(), "add credits in the X developer console (https://console.x.com)") {
			t.Errorf("Error() = %q; want it to say what to do", e.Error())
		}
	}
	if KindCreditsDepleted.String() != "credits depleted" {
		t.Errorf("String() = %q", KindCreditsDepleted.String())
	}
}
