//go:build pitweet_testdest

package daemon

import (
	"os"
	"slices"

	"pitweet/config"
)

// A build for tests only (go build -tags pitweet_testdest) posts to the
// destination "x2" that such a build of package config knows: a second X
// API server, $PITWEET_TEST_X2_URL, reached with [x]'s keys and ca_file.
// Release builds have no such destination.

func init() {
	testDestination = func(name string, cfg *config.Config, creds config.Credentials, opts destOptions) (destination, bool, error) {
		if name != "x2" || !slices.Contains(cfg.Destinations, name) {
			return nil, false, nil
		}
		c, err := newXClient(cfg.X, os.Getenv(config.TestX2Env), creds, opts)
		if err != nil {
			return nil, true, err
		}
		return newXDestination(name, c), true, nil
	}
}
