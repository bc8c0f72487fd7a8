//go:build pitweet_testdest

package daemon

import (
	"os"
	"slices"
)

// A build for tests only (go build -tags pitweet_testdest) knows one more
// destination, "x2": a second X API server, for the tests of a daemon that
// posts to two destinations, one of them down, with nothing but X
// emulators. It is configured when $PITWEET_TEST_X2_URL names its server
// (https://host:port); it signs with the same keys as X and trusts [x]'s
// ca_file. Release builds have no such destination.

// testX2Env names the second X server.
const testX2Env = "PITWEET_TEST_X2_URL"

func init() {
	extraDestinations = func() []string {
		if os.Getenv(testX2Env) == "" {
			return nil
		}
		return []string{"x2"}
	}
	testDestination = func(name string, cfg *Config, creds Credentials, opts destOptions) (destination, bool, error) {
		if name != "x2" || !slices.Contains(extraDestinations(), name) {
			return nil, false, nil
		}
		c, err := newXClient(cfg.X, os.Getenv(testX2Env), creds, opts)
		if err != nil {
			return nil, true, err
		}
		return newXDestination(name, c), true, nil
	}
	textRules["x2"] = xText
	sameKeysAs["x2"] = "x"
}
