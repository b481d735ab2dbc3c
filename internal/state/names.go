package state

import (
	"fmt"
	"path"
	"strings"
)

// SegmentRule states, for messages, the one rule every name that becomes a
// znode path segment follows (selectors, flag names, config path segments,
// environment roots).
const SegmentRule = "1 to 253 letters, digits, '.', '_', '-' or ':', starting with a letter, digit or '_'"

// maxSegment bounds one segment's length.
const maxSegment = 253

// CheckSegment reports whether s may be one znode path segment under a
// managed root. The rule admits no '/', no NUL or other control character,
// no "." or ".." (a segment never starts with '.'), nothing empty: a name
// that passes can be joined under a root and stays exactly one level below
// it.
func CheckSegment(s string) error {
	if s == "" {
		return fmt.Errorf("empty name (a name in a znode path is %s)", SegmentRule)
	}
	if len(s) > maxSegment {
		return fmt.Errorf("name of %d characters is too long (a name in a znode path is %s)", len(s), SegmentRule)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			i > 0 && (c == '.' || c == '-' || c == ':')
		if !ok {
			return fmt.Errorf("%q has %s at offset %d (a name in a znode path is %s)", s, describeByte(c, i), i, SegmentRule)
		}
	}
	return nil
}

func describeByte(c byte, i int) string {
	switch {
	case c == 0:
		return "a NUL byte"
	case c == '/':
		return "a '/'"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("the control character 0x%02x", c)
	case i == 0 && (c == '.' || c == '-' || c == ':'):
		return fmt.Sprintf("a leading %q", string(c))
	case c >= 0x80:
		return "a non-ASCII byte"
	}
	return fmt.Sprintf("the character %q", string(c))
}

// CheckRelPath reports whether p is a relative znode path of one or more
// segments that each pass CheckSegment, joined by single slashes. Such a
// path joined under a root stays below it.
func CheckRelPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	for _, seg := range strings.Split(p, "/") {
		if err := CheckSegment(seg); err != nil {
			if seg == p {
				return err
			}
			return fmt.Errorf("path %q: %w", p, err)
		}
	}
	return nil
}

// CheckRoot reports whether root may be an environment's managed
// ZooKeeper root: absolute, clean, below "/", outside ZooKeeper's own
// /zookeeper tree, and made of segments that pass CheckSegment.
func CheckRoot(root string) error {
	if !strings.HasPrefix(root, "/") || root == "/" {
		return fmt.Errorf("zookeeper root %q must be an absolute path below /", root)
	}
	if err := CheckRelPath(root[1:]); err != nil {
		return fmt.Errorf("zookeeper root %q: %w", root, err)
	}
	if root == "/zookeeper" || strings.HasPrefix(root, "/zookeeper/") {
		return fmt.Errorf("zookeeper root %q lies in /zookeeper, which ZooKeeper reserves for itself", root)
	}
	return nil
}

// Within reports whether p is a clean absolute path strictly below the
// clean absolute root, segment by segment (so /a/bc is not within /a/b,
// and /a/b/../c is within nothing: it is not clean).
func Within(root, p string) bool {
	if root == "" || path.Clean(root) != root || path.Clean(p) != p || strings.ContainsRune(p, 0) {
		return false
	}
	if root == "/" {
		return p != "/" && strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, root+"/")
}
