//go:build pitweet_testdest

package config

import "os"

// A build for tests only (go build -tags pitweet_testdest) knows one more
// destination, "x2": a second X API server, for the tests of a daemon that
// posts to two destinations, one of them down, with nothing but X
// emulators. It is configured when $PITWEET_TEST_X2_URL names its server
// (https://host:port); it counts texts as X does and signs with X's keys.
// Release builds have no such destination.

// TestX2Env names the second X server.
const TestX2Env = "PITWEET_TEST_X2_URL"

func init() {
	extraDestinations = func() []string {
		if os.Getenv(TestX2Env) == "" {
			return nil
		}
		return []string{"x2"}
	}
	textRules["x2"] = xText
	sameKeysAs["x2"] = "x"
}
