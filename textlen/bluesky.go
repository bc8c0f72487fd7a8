package textlen

import (
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Bluesky's limits of a post's text (the app.bsky.feed.post lexicon: text
// maxGraphemes 300, maxLength 3000, which atproto.com/specs/lexicon counts
// in UTF-8 bytes). Both apply.
const (
	MaxBlueskyGraphemes = 300
	MaxBlueskyBytes     = 3000
	MaxBluesky          = MaxBlueskyGraphemes
)

// Graphemes counts s's extended grapheme clusters (Unicode UAX #29), what
// a reader sees as characters: "é" written as e and a combining accent is
// one, a family emoji of seven code points is one.
func Graphemes(s string) int {
	return uniseg.GraphemeClusterCount(s)
}

// Bluesky is s's length as Bluesky's limit sees it, to compare with
// MaxBluesky: its grapheme clusters, or a tenth of its UTF-8 bytes rounded
// up when that is more. A text is within both of Bluesky's limits exactly
// when Bluesky(s) <= MaxBluesky: 300 clusters, 3000 bytes. (Only clusters
// of more than 10 bytes, such as long emoji sequences, make the bytes
// count.)
func Bluesky(s string) int {
	return max(Graphemes(s), (len(s)+9)/10)
}

// TruncateBluesky shortens s at a grapheme-cluster boundary, with no white
// space left at the end, so that Bluesky(s) <= max.
func TruncateBluesky(s string, max int) string {
	if Bluesky(s) <= max {
		return s
	}
	n, end := 0, 0
	rest, state := s, -1
	for rest != "" {
		var cluster string
		cluster, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		to := end + len(cluster)
		n++
		if n > max || (to+9)/10 > max {
			break
		}
		end = to
	}
	out := s[:end]
	for len(out) > 0 {
		r, size := utf8.DecodeLastRuneInString(out)
		if r != ' ' && r != '\t' && r != '\n' {
			break
		}
		out = out[:len(out)-size]
	}
	return out
}
