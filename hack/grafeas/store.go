package main

import (
	"context"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/grafeas/grafeas/go/name"
	gpb "github.com/grafeas/grafeas/proto/v1/grafeas_go_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// store keeps notes and occurrences in memory, by full resource name,
// with the errors Grafeas's own stores give (AlreadyExists, NotFound).
// Filters and page tokens are not supported (lists return everything).
type store struct {
	mu    sync.Mutex
	notes map[string]*gpb.Note
	occs  map[string]*gpb.Occurrence
	order []string // occurrence names, in creation order
}

func newStore() *store {
	return &store{notes: map[string]*gpb.Note{}, occs: map[string]*gpb.Occurrence{}}
}

func (s *store) CreateNote(_ context.Context, pID, nID, _ string, n *gpb.Note) (*gpb.Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := name.FormatNote(pID, nID)
	if _, ok := s.notes[full]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "note %q already exists", full)
	}
	n = proto.Clone(n).(*gpb.Note)
	n.Name = full
	n.CreateTime = timestamppb.Now()
	s.notes[full] = n
	return n, nil
}

func (s *store) BatchCreateNotes(ctx context.Context, pID, uID string, notes map[string]*gpb.Note) ([]*gpb.Note, []error) {
	var out []*gpb.Note
	var errs []error
	for id, n := range notes {
		c, err := s.CreateNote(ctx, pID, id, uID, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

func (s *store) GetNote(_ context.Context, pID, nID string) (*gpb.Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notes[name.FormatNote(pID, nID)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "note %q not found", name.FormatNote(pID, nID))
	}
	return n, nil
}

func (s *store) ListNotes(_ context.Context, pID, _, _ string, _ int32) ([]*gpb.Note, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := name.FormatProject(pID) + "/"
	var out []*gpb.Note
	for k, n := range s.notes {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, "", nil
}

func (s *store) UpdateNote(context.Context, string, string, *gpb.Note, *fieldmaskpb.FieldMask) (*gpb.Note, error) {
	return nil, status.Error(codes.Unimplemented, "UpdateNote")
}

func (s *store) DeleteNote(_ context.Context, pID, nID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := name.FormatNote(pID, nID)
	if _, ok := s.notes[full]; !ok {
		return status.Errorf(codes.NotFound, "note %q not found", full)
	}
	delete(s.notes, full)
	return nil
}

func (s *store) CreateOccurrence(_ context.Context, pID, _ string, o *gpb.Occurrence) (*gpb.Occurrence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.notes[o.NoteName]; !ok {
		return nil, status.Errorf(codes.NotFound, "note %q not found", o.NoteName)
	}
	o = proto.Clone(o).(*gpb.Occurrence)
	o.Name = name.FormatOccurrence(pID, uuid.New().String())
	o.CreateTime = timestamppb.Now()
	s.occs[o.Name] = o
	s.order = append(s.order, o.Name)
	return o, nil
}

func (s *store) BatchCreateOccurrences(ctx context.Context, pID, uID string, occs []*gpb.Occurrence) ([]*gpb.Occurrence, []error) {
	var out []*gpb.Occurrence
	var errs []error
	for _, o := range occs {
		c, err := s.CreateOccurrence(ctx, pID, uID, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

func (s *store) GetOccurrence(_ context.Context, pID, oID string) (*gpb.Occurrence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.occs[name.FormatOccurrence(pID, oID)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "occurrence %q not found", name.FormatOccurrence(pID, oID))
	}
	return o, nil
}

func (s *store) list(keep func(*gpb.Occurrence) bool) []*gpb.Occurrence {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gpb.Occurrence
	for _, k := range s.order {
		if o, ok := s.occs[k]; ok && keep(o) {
			out = append(out, o)
		}
	}
	return out
}

func (s *store) ListOccurrences(_ context.Context, pID, _, _ string, _ int32) ([]*gpb.Occurrence, string, error) {
	prefix := name.FormatProject(pID) + "/"
	return s.list(func(o *gpb.Occurrence) bool { return len(o.Name) > len(prefix) && o.Name[:len(prefix)] == prefix }), "", nil
}

func (s *store) ListNoteOccurrences(_ context.Context, pID, nID, _, _ string, _ int32) ([]*gpb.Occurrence, string, error) {
	full := name.FormatNote(pID, nID)
	return s.list(func(o *gpb.Occurrence) bool { return o.NoteName == full }), "", nil
}

func (s *store) UpdateOccurrence(context.Context, string, string, *gpb.Occurrence, *fieldmaskpb.FieldMask) (*gpb.Occurrence, error) {
	return nil, status.Error(codes.Unimplemented, "UpdateOccurrence")
}

func (s *store) DeleteOccurrence(_ context.Context, pID, oID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := name.FormatOccurrence(pID, oID)
	if _, ok := s.occs[full]; !ok {
		return status.Errorf(codes.NotFound, "occurrence %q not found", full)
	}
	delete(s.occs, full)
	return nil
}

func (s *store) GetOccurrenceNote(_ context.Context, pID, oID string) (*gpb.Note, error) {
	o, err := s.GetOccurrence(context.Background(), pID, oID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notes[o.NoteName]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "note %q not found", o.NoteName)
	}
	return n, nil
}
