package oauth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// rfcClient are the client credentials of RFC 5849 section 1.2: the
// printer.example.com site signed up with photos.example.net.
var rfcClient = Credentials{ConsumerKey: "dpf43f3p2l4k3l03", ConsumerSecret: "kd94hf93k423kf44"}

// The three requests of RFC 5849 section 1.2, as the RFC prints them:
// temporary credentials (a request token, with oauth_callback), token
// credentials (an access token, with oauth_verifier), then the photo. The
// RFC gives only the headers and the signatures; the base strings here
// are section 3.4.1's, and the signatures prove them.
var rfcExchange = []struct {
	name       string
	creds      Credentials
	req        Request
	nonce, ts  string
	header     string // as the RFC prints it, line breaks removed
	baseString string
	signingKey string
	signature  string
}{
	{
		name:  "temporary credentials",
		creds: rfcClient,
		req:   Request{Method: "POST", URL: "https://photos.example.net/initiate", Callback: "http://printer.example.com/ready"},
		nonce: "wIjqoS", ts: "137131200",
		header: `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131200", ` +
			`oauth_nonce="wIjqoS", oauth_callback="http%3A%2F%2Fprinter.example.com%2Fready", oauth_signature="74KNZJeDHnMBp0EMJ9ZHt%2FXKycU%3D"`,
		baseString: "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252Fprinter.example.com%252Fready%26" +
			"oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DwIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200",
		signingKey: "kd94hf93k423kf44&",
		signature:  "74KNZJeDHnMBp0EMJ9ZHt/XKycU=",
	},
	{
		name: "token credentials",
		// The temporary credentials the server answered:
		// oauth_token=hh5s93j4hdidpola&oauth_token_secret=hdhd0244k9j7ao03&oauth_callback_confirmed=true
		creds: Credentials{ConsumerKey: rfcClient.ConsumerKey, ConsumerSecret: rfcClient.ConsumerSecret, Token: "hh5s93j4hdidpola", TokenSecret: "hdhd0244k9j7ao03"},
		req:   Request{Method: "POST", URL: "https://photos.example.net/token", Verifier: "hfdp7dh39dks9884"},
		nonce: "walatlh", ts: "137131201",
		header: `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="hh5s93j4hdidpola", oauth_signature_method="HMAC-SHA1", ` +
			`oauth_timestamp="137131201", oauth_nonce="walatlh", oauth_verifier="hfdp7dh39dks9884", oauth_signature="gKgrFCywp7rO0OXSjdot%2FIHF7IU%3D"`,
		baseString: "POST&https%3A%2F%2Fphotos.example.net%2Ftoken&oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dwalatlh%26" +
			"oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dhh5s93j4hdidpola%26oauth_verifier%3Dhfdp7dh39dks9884",
		signingKey: "kd94hf93k423kf44&hdhd0244k9j7ao03",
		signature:  "gKgrFCywp7rO0OXSjdot/IHF7IU=",
	},
	{
		name: "protected resource",
		// oauth_token=nnch734d00sl2jdk&oauth_token_secret=pfkkdhi9sl3r4s00
		creds: Credentials{ConsumerKey: rfcClient.ConsumerKey, ConsumerSecret: rfcClient.ConsumerSecret, Token: "nnch734d00sl2jdk", TokenSecret: "pfkkdhi9sl3r4s00"},
		req:   Request{Method: "GET", URL: "http://photos.example.net/photos?file=vacation.jpg&size=original"},
		nonce: "chapoH", ts: "137131202",
		header: `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", oauth_signature_method="HMAC-SHA1", ` +
			`oauth_timestamp="137131202", oauth_nonce="chapoH", oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"`,
		baseString: "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26" +
			"oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal",
		signingKey: "kd94hf93k423kf44&pfkkdhi9sl3r4s00",
		signature:  "MdpQcU8iPSUjWoN/UDMsK2sui9I=",
	},
}

// TestRFC5849Exchange signs the three requests of RFC 5849 section 1.2
// and gets the RFC's signatures and headers, then verifies the headers as
// the RFC prints them.
func TestRFC5849Exchange(t *testing.T) {
	for _, c := range rfcExchange {
		s := Signer{Credentials: c.creds, NoVersion: true}
		b, err := s.SignWith(c.req, c.nonce, c.ts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, v := range []struct{ what, got, want string }{
			{"base string", b.BaseString, c.baseString},
			{"signing key", b.SigningKey, c.signingKey},
			{"signature", b.Signature, c.signature},
		} {
			if v.got != v.want {
				t.Errorf("%s: %s\n got %s\nwant %s", c.name, v.what, v.got, v.want)
			}
		}
		// The same parameters as the RFC's header, realm aside (it is
		// never signed, and pitweet sends none).
		ours, err := ParseHeader(b.Header)
		if err != nil {
			t.Fatalf("%s: our header %s: %v", c.name, b.Header, err)
		}
		theirs, err := ParseHeader(c.header)
		if err != nil {
			t.Fatalf("%s: RFC header: %v", c.name, err)
		}
		byName := func(a, b Param) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(ours, byName)
		slices.SortFunc(theirs, byName)
		if !slices.Equal(ours, theirs) {
			t.Errorf("%s: header parameters\n got %v\nwant %v", c.name, ours, theirs)
		}

		res, err := Verify(c.req.Method, c.req.URL, c.header, nil, c.creds.ConsumerSecret, c.creds.TokenSecret)
		if err != nil {
			t.Fatalf("%s: Verify(RFC header): %v", c.name, err)
		}
		if res.Breakdown.BaseString != c.baseString {
			t.Errorf("%s: Verify's base string\n got %s\nwant %s", c.name, res.Breakdown.BaseString, c.baseString)
		}
		if res.Callback != c.req.Callback || res.Verifier != c.req.Verifier || res.Token != c.creds.Token {
			t.Errorf("%s: Verify found callback %q, verifier %q, token %q", c.name, res.Callback, res.Verifier, res.Token)
		}
	}
}

// TestPINFlowSigning signs X's PIN-based flow: the request token with
// oauth_callback="oob" signed and no token, the access token with the
// request token and the PIN as oauth_verifier, both signed.
func TestPINFlowSigning(t *testing.T) {
	app := Credentials{ConsumerKey: "ck", ConsumerSecret: "c&s"}
	s := Signer{Credentials: app}
	b, err := s.SignWith(Request{Method: "POST", URL: "https://api.x.com/oauth/request_token", Callback: "oob"}, "n1", "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	want := "POST&https%3A%2F%2Fapi.x.com%2Foauth%2Frequest_token&oauth_callback%3Doob%26oauth_consumer_key%3Dck%26oauth_nonce%3Dn1%26" +
		"oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26oauth_version%3D1.0"
	if b.BaseString != want {
		t.Errorf("request token base string\n got %s\nwant %s", b.BaseString, want)
	}
	if b.SigningKey != "c%26s&" {
		t.Errorf("request token signing key %q, want the consumer secret and an empty token secret", b.SigningKey)
	}
	if !strings.HasPrefix(b.Header, `OAuth oauth_callback="oob", oauth_consumer_key="ck", `) || strings.Contains(b.Header, "oauth_token") {
		t.Errorf("request token header %s", b.Header)
	}
	if _, err := Verify("POST", "https://api.x.com/oauth/request_token", b.Header, nil, app.ConsumerSecret, ""); err != nil {
		t.Errorf("Verify(request token): %v", err)
	}
	// The callback is signed: another value breaks the signature.
	forged := strings.Replace(b.Header, `oauth_callback="oob"`, `oauth_callback="https%3A%2F%2Fevil.example"`, 1)
	if _, err := Verify("POST", "https://api.x.com/oauth/request_token", forged, nil, app.ConsumerSecret, ""); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(changed callback) = %v, want ErrBadSignature", err)
	}

	rt := Credentials{ConsumerKey: "ck", ConsumerSecret: "c&s", Token: "rt", TokenSecret: "rts"}
	s = Signer{Credentials: rt}
	b, err = s.SignWith(Request{Method: "POST", URL: "https://api.x.com/oauth/access_token", Verifier: "1234567"}, "n2", "1700000060")
	if err != nil {
		t.Fatal(err)
	}
	want = "POST&https%3A%2F%2Fapi.x.com%2Foauth%2Faccess_token&oauth_consumer_key%3Dck%26oauth_nonce%3Dn2%26oauth_signature_method%3DHMAC-SHA1%26" +
		"oauth_timestamp%3D1700000060%26oauth_token%3Drt%26oauth_verifier%3D1234567%26oauth_version%3D1.0"
	if b.BaseString != want {
		t.Errorf("access token base string\n got %s\nwant %s", b.BaseString, want)
	}
	if b.SigningKey != "c%26s&rts" {
		t.Errorf("access token signing key %q", b.SigningKey)
	}
	if !strings.Contains(b.Header, `oauth_token="rt", oauth_verifier="1234567", oauth_version="1.0"`) {
		t.Errorf("access token header %s", b.Header)
	}
	res, err := Verify("POST", "https://api.x.com/oauth/access_token", b.Header, nil, rt.ConsumerSecret, rt.TokenSecret)
	if err != nil || res.Verifier != "1234567" || res.Token != "rt" {
		t.Errorf("Verify(access token) = %+v, %v", res, err)
	}
	// The verifier is signed: another PIN breaks the signature.
	forged = strings.Replace(b.Header, `oauth_verifier="1234567"`, `oauth_verifier="7654321"`, 1)
	if _, err := Verify("POST", "https://api.x.com/oauth/access_token", forged, nil, rt.ConsumerSecret, rt.TokenSecret); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(changed verifier) = %v, want ErrBadSignature", err)
	}
}

// TestVerifierElsewhere verifies an access-token request whose
// oauth_verifier is in the query string, as X's documentation shows it,
// or in a form body: either way it is signed, and found.
func TestVerifierElsewhere(t *testing.T) {
	rt := Credentials{ConsumerKey: "ck", ConsumerSecret: "cs", Token: "rt", TokenSecret: "rts"}
	s := Signer{Credentials: rt}
	url := "https://api.x.com/oauth/access_token?oauth_verifier=1234567"
	b, err := s.SignWith(Request{Method: "POST", URL: url}, "n", "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify("POST", url, b.Header, nil, "cs", "rts")
	if err != nil || res.Verifier != "1234567" {
		t.Errorf("verifier in the query: %+v, %v", res, err)
	}
	if _, err := Verify("POST", "https://api.x.com/oauth/access_token?oauth_verifier=7654321", b.Header, nil, "cs", "rts"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed verifier in the query: %v, want ErrBadSignature", err)
	}

	form := []Param{{"oauth_verifier", "1234567"}}
	b, err = s.SignWith(Request{Method: "POST", URL: "https://api.x.com/oauth/access_token", Form: form}, "n", "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	res, err = Verify("POST", "https://api.x.com/oauth/access_token", b.Header, form, "cs", "rts")
	if err != nil || res.Verifier != "1234567" {
		t.Errorf("verifier in the form: %+v, %v", res, err)
	}

	// Sent twice (header and query), it is ambiguous: refused.
	b, err = s.SignWith(Request{Method: "POST", URL: url, Verifier: "1234567"}, "n", "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify("POST", url, b.Header, nil, "cs", "rts"); !errors.Is(err, ErrMalformed) {
		t.Errorf("verifier twice: %v, want ErrMalformed", err)
	}
}

// TestCallbackAndVerifierMisuse refuses the combinations RFC 5849 never
// sends: a callback with a token, a verifier without one.
func TestCallbackAndVerifierMisuse(t *testing.T) {
	withToken := Signer{Credentials: xExample.creds}
	if _, err := withToken.SignWith(Request{Method: "POST", URL: "https://api.x.com/oauth/request_token", Callback: "oob"}, "n", "1"); !errors.Is(err, ErrMalformed) {
		t.Errorf("callback with a token: %v, want ErrMalformed", err)
	}
	noToken := Signer{Credentials: Credentials{ConsumerKey: "ck", ConsumerSecret: "cs"}}
	if _, err := noToken.SignWith(Request{Method: "POST", URL: "https://api.x.com/oauth/access_token", Verifier: "1"}, "n", "1"); !errors.Is(err, ErrMalformed) {
		t.Errorf("verifier without a token: %v, want ErrMalformed", err)
	}
}
