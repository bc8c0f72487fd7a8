package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"pitweet/media"
	"pitweet/sender"
)

// uploadExplanation is what `pitweet explain --image --json` prints: every
// request of a post with pictures, in the order they are sent.
type uploadExplanation struct {
	Credentials string        `json:"credentials"`
	Steps       []uploadStep  `json:"requests"`
	Notes       []string      `json:"notes,omitempty"`
	Signing     explanation   `json:"upload_signing"` // the signature of the first upload request, step by step
	Pictures    []pictureNote `json:"pictures"`
}

type uploadStep struct {
	What    string `json:"what"`
	Request string `json:"request"` // the exact bytes, each file's contents replaced by a note of its size
	Layout  string `json:"multipart_layout,omitempty"`
}

type pictureNote struct {
	Path     string `json:"path"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Animated bool   `json:"animated"`
	Alt      string `json:"alt,omitempty"`
}

// whyBodyNotSigned says why an upload's body is not in its signature.
const whyBodyNotSigned = "The multipart body is not signed. RFC 5849 section 3.4.1.3.1 takes parameters from the body only when it is single-part and application/x-www-form-urlencoded; multipart/form-data is neither, so media_category and the picture's bytes stay out of the signature base string, which holds the method, the URL and the oauth_* parameters alone. X checks the signature without reading the body, and pitweet streams the file from disk as it is sent."

// explainUpload prints the requests of posting text with images, signed
// with client, without sending anything.
func explainUpload(w io.Writer, client *sender.Client, baseURL, source, text string, images []sender.Image, nonce, timestamp, boundary string, asJSON, maskSecrets bool) error {
	up, err := client.BuildUpload(text, images, nonce, timestamp, boundary)
	if err != nil {
		return err
	}
	e := uploadExplanation{Credentials: source}
	for _, im := range images {
		e.Pictures = append(e.Pictures, pictureNote{Path: im.Path, Type: im.Type, Size: im.Size, Animated: im.Animated, Alt: im.Alt})
		if !im.Animated && im.Size > media.XLimits().MaxBytes {
			e.Notes = append(e.Notes, fmt.Sprintf("%s is %d bytes, more than X's %d for a picture: pitweet tweet scales or re-encodes it to fit first, and uploads the result; the sizes above are the file's as it is.", im.Path, im.Size, media.XLimits().MaxBytes))
		}
	}
	for _, st := range up.Steps {
		s := uploadStep{What: st.What, Request: string(st.Prepared.Request)}
		if st.Multipart != nil {
			s.Layout = st.Multipart.Layout()
		}
		e.Steps = append(e.Steps, s)
	}
	e.Signing = explain(baseURL, source, up.Steps[0].Prepared, false)
	if maskSecrets {
		e.Signing.SigningKey = maskKey(e.Signing.SigningKey)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	fmt.Fprintf(w, "Posting with %d picture(s): %d requests, each signed with OAuth 1.0a HMAC-SHA1 (RFC 5849 section 3.4).\nCredentials: %s\n", len(images), len(up.Steps), source)
	for i, st := range e.Steps {
		fmt.Fprintf(w, "\nRequest %d: %s\n", i+1, st.What)
		for _, line := range strings.SplitAfter(st.Request, "\r\n") {
			if line != "" {
				fmt.Fprintf(w, "   %s\n", strings.ReplaceAll(line, "\r\n", "⏎"))
			}
		}
		if i == 0 {
			fmt.Fprintf(w, "   Signature base string (no body parameter in it):\n   %s\n", e.Signing.BaseString)
			fmt.Fprintf(w, "   %s\n", whyBodyNotSigned)
		}
	}
	fmt.Fprintln(w, "\nX chooses the media ids (shown as MEDIA_ID_1, ...) when it answers each upload; the alt text and the post carry them. Alt text costs a request on X's price list; the upload does not.")
	for _, n := range e.Notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w, "Nothing was sent. `pitweet tweet --image` sends the same requests with fresh nonces and timestamps, and a random boundary.")
	return nil
}
