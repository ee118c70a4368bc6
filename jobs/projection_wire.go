package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/poluruprvn/profiles/identity"
)

// River indexes every job's args with a GIN index (river_job_args_index), one entry per JSON
// key and per distinct scalar value, written again each time the job changes state. Carried
// as arrays, the ids of a group's change made some 40 entries per job and River's index the
// largest writer of WAL under Identify load. Packed into one string per change and field
// (strings past 125 bytes make a single hashed entry) they stay readable in River's UI and
// cost a few entries. Ids cannot hold control characters (identity.ValidateID), so tabs and
// newlines separate them.
//
//	{"changes":[{"projectId":"proj_1","version":42,
//	  "profileIds":"prof_a\nprof_b",
//	  "mappings":"anon-1\tprof_a\t42\nuser-1\tprof_a\t42"}]}
type wireChange struct {
	ProjectID  string          `json:"projectId"`
	Version    int64           `json:"version"`
	ProfileIDs json.RawMessage `json:"profileIds,omitempty"`
	Mappings   json.RawMessage `json:"mappings,omitempty"`
	// Jobs of releases before 2026-12 carried whole profiles; their ids are all we need.
	Profiles []struct {
		ID string `json:"id"`
	} `json:"profiles,omitempty"`
}

type wireArgs struct {
	Changes []wireChange `json:"changes"`
}

// MarshalJSON packs each change's ids. An id holding a separator is refused (the write that
// made it fails in its transaction) rather than split into ids nobody wrote.
func (a ProjectionArgs) MarshalJSON() ([]byte, error) {
	w := wireArgs{Changes: make([]wireChange, len(a.Changes))}
	for i, c := range a.Changes {
		if err := checkSeparators(c); err != nil {
			return nil, fmt.Errorf("projection change %d: %w", i, err)
		}
		wc := wireChange{ProjectID: c.ProjectID, Version: c.Version}
		if len(c.ProfileIDs) > 0 {
			wc.ProfileIDs = quote(strings.Join(c.ProfileIDs, "\n"))
		}
		if len(c.Mappings) > 0 {
			var b strings.Builder
			for j, m := range c.Mappings {
				if j > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(m.DistinctID)
				b.WriteByte('\t')
				b.WriteString(m.ProfileID)
				b.WriteByte('\t')
				b.WriteString(strconv.FormatInt(m.Version, 10))
			}
			wc.Mappings = quote(b.String())
		}
		w.Changes[i] = wc
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the packed form, and the arrays of earlier releases.
func (a *ProjectionArgs) UnmarshalJSON(data []byte) error {
	var w wireArgs
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	a.Changes = make([]identity.Change, len(w.Changes))
	for i, wc := range w.Changes {
		c := identity.Change{ProjectID: wc.ProjectID, Version: wc.Version}
		var err error
		if c.ProfileIDs, err = unpackIDs(wc.ProfileIDs); err != nil {
			return fmt.Errorf("projection change %d: profileIds: %w", i, err)
		}
		for _, p := range wc.Profiles {
			c.ProfileIDs = append(c.ProfileIDs, p.ID)
		}
		if c.Mappings, err = unpackMappings(wc.Mappings); err != nil {
			return fmt.Errorf("projection change %d: mappings: %w", i, err)
		}
		a.Changes[i] = c
	}
	return nil
}

func checkSeparators(c identity.Change) error {
	for _, id := range c.ProfileIDs {
		if strings.ContainsAny(id, "\t\n") {
			return fmt.Errorf("profile id %q holds a tab or newline", id)
		}
	}
	for _, m := range c.Mappings {
		if strings.ContainsAny(m.DistinctID, "\t\n") || strings.ContainsAny(m.ProfileID, "\t\n") {
			return fmt.Errorf("mapping %q -> %q holds a tab or newline", m.DistinctID, m.ProfileID)
		}
	}
	return nil
}

func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// packedLines reads a packed string's lines. Earlier releases wrote a JSON array instead: it
// is decoded into legacy, and no lines are returned.
func packedLines(raw json.RawMessage, legacy any) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if raw[0] == '[' {
		return nil, json.Unmarshal(raw, legacy)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return nil, err
	}
	return strings.Split(s, "\n"), nil
}

// unpackIDs reads "a\nb" or, as earlier releases wrote, ["a","b"].
func unpackIDs(raw json.RawMessage) ([]string, error) {
	var ids []string
	lines, err := packedLines(raw, &ids)
	if lines != nil {
		ids = lines
	}
	return ids, err
}

// unpackMappings reads lines of distinct id, profile id and version, or the array of objects
// of earlier releases.
func unpackMappings(raw json.RawMessage) ([]identity.Mapping, error) {
	var ms []identity.Mapping
	lines, err := packedLines(raw, &ms)
	if err != nil || lines == nil {
		return ms, err
	}
	ms = make([]identity.Mapping, len(lines))
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: %d fields, want distinct id, profile id and version", i+1, len(f))
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: version: %w", i+1, err)
		}
		ms[i] = identity.Mapping{DistinctID: f[0], ProfileID: f[1], Version: v}
	}
	return ms, nil
}
