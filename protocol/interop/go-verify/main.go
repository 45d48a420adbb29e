// Command go-verify checks a Legation node's signed checkpoints and Merkle proofs with Go's own
// transparency-log packages, which share no code with Legation: golang.org/x/mod/sumdb/note
// (C2SP signed notes, Ed25519 verifier keys) and golang.org/x/mod/sumdb/tlog (RFC 6962 hashing,
// inclusion and consistency proofs). It is the secretariat's evidence that existing tooling reads
// what a node signs, and the test of that (node/test/http/audit-interop.test.ts).
//
// Only the checkpoint body (C2SP tlog-checkpoint: origin, size, base64 root, extension lines) is
// parsed here: tlog.ParseTree reads the older "go.sum database tree" header, not C2SP's origin
// line. Everything else is the x/mod packages' own: the verifier key is derived from the raw
// public key (note.NewEd25519VerifierKey), each note is opened with note.Open, leaf hashes are
// tlog.RecordHash of the leaf data, and proofs are checked by tlog.CheckRecord and tlog.CheckTree
// against the roots of the signed checkpoints, never against roots the node sent beside them.
//
// Input, one JSON object, from the file named as the only argument or from stdin:
//
//	{
//	  "origin":      "legation/<bloc>/<node id>",   the log's origin line, the note signer's name
//	  "publicKey":   "<base64url or hex>",           the node's Ed25519 key, from the charter
//	  "verifierKey": "<name+hash+base64>",           optional: as GET /v1/audit/checkpoint gives it
//	  "checkpoints": ["<signed note>", ...],         GET /v1/audit/checkpoint's note, at any times
//	  "inclusion":   [<GET /v1/audit/feeds/{origin}/inclusion answer>, ...],
//	  "consistency": [<GET /v1/audit/feeds/{origin}/consistency answer>, ...]
//	}
//
// A proof is checked against the verified checkpoint of its size (its `size`, or `from` and
// `to`). Prints one line per check, "ok ..." or "FAIL ...", and exits 1 if any check failed,
// 2 if the input cannot be read.
//
// Build offline with Debian's golang-go and golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o go-verify ./protocol/interop/go-verify
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	Origin      string              `json:"origin"`
	PublicKey   string              `json:"publicKey"`
	VerifierKey string              `json:"verifierKey"`
	Checkpoints []string            `json:"checkpoints"`
	Inclusion   []inclusionAnswer   `json:"inclusion"`
	Consistency []consistencyAnswer `json:"consistency"`
}

// inclusionAnswer is the part of the node's inclusion answer used here; its root is not trusted.
type inclusionAnswer struct {
	Seq   int64    `json:"seq"`
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Entry string   `json:"entry"`
	Proof []string `json:"proof"`
}

// consistencyAnswer is the part of the node's consistency answer used here; its roots are not trusted.
type consistencyAnswer struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

// checkpoint is a C2SP tlog-checkpoint body.
type checkpoint struct {
	origin     string
	size       int64
	root       tlog.Hash
	extensions []string
}

type report struct{ failed bool }

func (r *report) ok(format string, args ...any) { fmt.Printf("ok   "+format+"\n", args...) }

func (r *report) fail(format string, args ...any) {
	r.failed = true
	fmt.Printf("FAIL "+format+"\n", args...)
}

func main() {
	in, err := readInput(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-verify:", err)
		os.Exit(2)
	}
	r := &report{}
	run(in, r)
	if r.failed {
		os.Exit(1)
	}
}

func readInput(args []string) (*input, error) {
	var src io.Reader = os.Stdin
	if len(args) > 1 {
		return nil, errors.New("usage: go-verify [input.json]")
	}
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		src = f
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return nil, err
	}
	// The node's answers carry fields not used here (their roots among them): those are fine. A
	// misspelt top-level field is not, or a typo would pass by checking nothing.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("reading the input: %w", err)
	}
	for name := range fields {
		switch name {
		case "origin", "publicKey", "verifierKey", "checkpoints", "inclusion", "consistency":
		default:
			return nil, fmt.Errorf("reading the input: unknown field %q", name)
		}
	}
	var in input
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("reading the input: %w", err)
	}
	if len(in.Checkpoints) == 0 {
		return nil, errors.New("reading the input: no checkpoint to verify")
	}
	return &in, nil
}

func run(in *input, r *report) {
	verifier, ok := deriveVerifier(in, r)
	if !ok {
		return
	}
	// The verified checkpoints by size; two of one size must agree (else the node forked its log).
	bySize := map[int64]checkpoint{}
	for i, text := range in.Checkpoints {
		cp, err := openCheckpoint(text, verifier, in.Origin)
		if err != nil {
			r.fail("checkpoint %d: %v", i, err)
			continue
		}
		if prev, seen := bySize[cp.size]; seen && prev.root != cp.root {
			r.fail("checkpoint %d: a second signed tree of size %d with another root (%s, %s)", i, cp.size, prev.root, cp.root)
			continue
		}
		bySize[cp.size] = cp
		r.ok("checkpoint %d: signature by %s verifies; size %d, root %s, %d extension lines", i, verifier.Name(), cp.size, cp.root, len(cp.extensions))
	}
	for i, a := range in.Inclusion {
		checkInclusion(i, a, bySize, r)
	}
	for i, a := range in.Consistency {
		checkConsistency(i, a, bySize, r)
	}
}

// deriveVerifier builds the note verifier from the raw public key, so that the key id is computed
// here and not taken from the node, and compares it with the verifier key the node serves.
func deriveVerifier(in *input, r *report) (note.Verifier, bool) {
	pub, err := decodeKey(in.PublicKey)
	if err != nil {
		r.fail("verifier key: publicKey: %v", err)
		return nil, false
	}
	vkey, err := note.NewEd25519VerifierKey(in.Origin, pub)
	if err != nil {
		r.fail("verifier key: %v", err)
		return nil, false
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		r.fail("verifier key %q: %v", vkey, err)
		return nil, false
	}
	switch {
	case in.VerifierKey == "":
		r.ok("verifier key %s (derived; the node's was not given)", vkey)
	case in.VerifierKey == vkey:
		r.ok("verifier key %s: the node serves the same", vkey)
	default:
		r.fail("verifier key: the node serves %q, x/mod derives %q", in.VerifierKey, vkey)
	}
	return verifier, true
}

// openCheckpoint verifies the note's signature with x/mod's note.Open and parses its text as a
// C2SP tlog-checkpoint.
func openCheckpoint(text string, verifier note.Verifier, origin string) (checkpoint, error) {
	n, err := note.Open([]byte(text), note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("signature: %w", err)
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		return checkpoint{}, err
	}
	if cp.origin != origin {
		return checkpoint{}, fmt.Errorf("origin %q, expected %q", cp.origin, origin)
	}
	return cp, nil
}

// parseCheckpoint reads https://c2sp.org/tlog-checkpoint: origin, decimal size (no leading
// zeros), standard base64 root hash, then non-empty extension lines; the text ends with "\n".
func parseCheckpoint(text string) (checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return checkpoint{}, errors.New("checkpoint: text does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, errors.New("checkpoint: fewer than three lines")
	}
	if lines[0] == "" {
		return checkpoint{}, errors.New("checkpoint: empty origin")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("checkpoint: malformed size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: root %q: %w", lines[2], err)
	}
	for _, e := range lines[3:] {
		if e == "" {
			return checkpoint{}, errors.New("checkpoint: empty extension line")
		}
	}
	return checkpoint{origin: lines[0], size: size, root: root, extensions: lines[3:]}, nil
}

func checkInclusion(i int, a inclusionAnswer, bySize map[int64]checkpoint, r *report) {
	what := fmt.Sprintf("inclusion %d (entry %d, leaf index %d, tree of %d)", i, a.Seq, a.Index, a.Size)
	cp, found := bySize[a.Size]
	if !found {
		r.fail("%s: no verified checkpoint of size %d", what, a.Size)
		return
	}
	// Feed sequence numbers start at 1, RFC 6962 leaf indexes at 0.
	if a.Index != a.Seq-1 {
		r.fail("%s: leaf index is not seq - 1", what)
		return
	}
	entry, err := hex.DecodeString(a.Entry)
	if err != nil || len(entry) != tlog.HashSize {
		r.fail("%s: entry is not a hex SHA-256 hash", what)
		return
	}
	proof, err := decodeHashes(a.Proof)
	if err != nil {
		r.fail("%s: %v", what, err)
		return
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), cp.size, cp.root, a.Index, tlog.RecordHash(entry)); err != nil {
		r.fail("%s: tlog.CheckRecord: %v", what, err)
		return
	}
	r.ok("%s: tlog.CheckRecord accepts %d hashes against root %s", what, len(proof), cp.root)
}

func checkConsistency(i int, a consistencyAnswer, bySize map[int64]checkpoint, r *report) {
	what := fmt.Sprintf("consistency %d (tree of %d in tree of %d)", i, a.From, a.To)
	from, okFrom := bySize[a.From]
	to, okTo := bySize[a.To]
	if !okFrom || !okTo {
		r.fail("%s: no verified checkpoints of sizes %d and %d", what, a.From, a.To)
		return
	}
	proof, err := decodeHashes(a.Proof)
	if err != nil {
		r.fail("%s: %v", what, err)
		return
	}
	// tlog refuses an empty old tree (n < 1): such a proof is reported failed, not skipped.
	if err := tlog.CheckTree(tlog.TreeProof(proof), to.size, to.root, from.size, from.root); err != nil {
		r.fail("%s: tlog.CheckTree: %v", what, err)
		return
	}
	r.ok("%s: tlog.CheckTree accepts %d hashes from root %s to root %s", what, len(proof), from.root, to.root)
}

// decodeHashes reads the node's base64url hashes (Legation's API encoding, unpadded).
func decodeHashes(in []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(in))
	for i, s := range in {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d is not a base64url SHA-256 hash", i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// decodeKey reads a 32-byte key in base64url (Legation's encoding) or hex.
func decodeKey(s string) ([]byte, error) {
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != 32 {
		return nil, errors.New("not a 32-byte key in base64url or hex")
	}
	return b, nil
}
