package fakebsky

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Session tokens are JSON Web Tokens signed with HS256 and the server's
// secret, as the reference PDS makes them: the access token has header
// typ "at+jwt", the refresh token "refresh+jwt" (atproto.com/specs/xrpc:
// "access tokens should use at+jwt, and refresh tokens should use
// refresh+jwt"); claims scope, aud (the service's DID), sub (the account's
// DID), iat, exp, and jti on refresh tokens.

const (
	typAccess  = "at+jwt"
	typRefresh = "refresh+jwt"

	scopeAppPass = "com.atproto.appPass" // an access token from an app-password login
	scopeRefresh = "com.atproto.refresh"
)

type claims struct {
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Sub   string `json:"sub"`
	Jti   string `json:"jti,omitempty"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

var b64 = base64.RawURLEncoding

// signJWT returns the compact HS256 JWT of c with header typ.
func signJWT(key []byte, typ string, c claims) string {
	header, _ := json.Marshal(map[string]string{"typ": typ, "alg": "HS256"})
	payload, _ := json.Marshal(c)
	signing := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil))
}

// A tokenError is why a token is refused: the XRPC error name and the
// message the PDS gives (auth-verifier.ts).
type tokenError struct{ name, message string }

var (
	errUnverified = &tokenError{"InvalidToken", "Token could not be verified"} // bad signature, wrong typ or audience, garbage
	errExpired    = &tokenError{"ExpiredToken", "Token has expired"}
	errMalformed  = &tokenError{"InvalidToken", "Malformed token"}
	errScope      = &tokenError{"InvalidToken", "Bad token scope"}
)

// verifyJWT checks token as the PDS's verifyBearerJwt does: the signature,
// then the typ header and the audience, then expiry (exp at or before now
// is expired), then the claims' shapes and the scope.
func verifyJWT(key []byte, token, typ, aud string, scopes []string, now time.Time) (claims, *tokenError) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, errUnverified
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return claims{}, errUnverified
	}
	var header struct{ Typ, Alg string }
	var c claims
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &c) != nil ||
		header.Alg != "HS256" || header.Typ != typ || c.Aud != aud {
		return claims{}, errUnverified
	}
	if c.Exp <= now.Unix() {
		return claims{}, errExpired
	}
	if !strings.HasPrefix(c.Sub, "did:") || !strings.HasPrefix(c.Aud, "did:") {
		return claims{}, errMalformed
	}
	for _, s := range scopes {
		if c.Scope == s {
			return c, nil
		}
	}
	return claims{}, errScope
}
