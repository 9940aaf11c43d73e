package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseImage(t *testing.T) {
	cases := map[string]struct {
		ref      string
		wantName string
		wantTag  string
		wantErr  bool
	}{
		"name and tag":              {ref: "ramp/sampleapp:v1", wantName: "sampleapp", wantTag: "v1"},
		"bare name is latest":       {ref: "sampleapp", wantName: "sampleapp", wantTag: "latest"},
		"registry with port":        {ref: "registry.example.com:5000/team/app:1.2", wantName: "app", wantTag: "1.2"},
		"registry with port no tag": {ref: "registry.example.com:5000/team/app", wantName: "app", wantTag: "latest"},
		"digest only is latest":     {ref: "ramp/app@sha256:abc", wantName: "app", wantTag: "latest"},
		"tag and digest":            {ref: "ramp/app:1.0@sha256:abc", wantName: "app", wantTag: "1.0"},
		"empty tag is latest":       {ref: "ramp/app:", wantName: "app", wantTag: "latest"},
		"surrounding spaces":        {ref: "  ramp/app:v2 ", wantName: "app", wantTag: "v2"},
		"empty":                     {ref: "", wantErr: true},
		"blank":                     {ref: "   ", wantErr: true},
		"trailing slash":            {ref: "ramp/", wantErr: true},
		"tag without name":          {ref: "ramp/:v1", wantErr: true},
		"space inside name":         {ref: "ramp/my app:v1", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			gotName, gotTag, err := parseImage(tc.ref)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("parseImage(%q) error = %v, want error %v", tc.ref, err, tc.wantErr)
			}
			if diff := cmp.Diff([2]string{tc.wantName, tc.wantTag}, [2]string{gotName, gotTag}); diff != "" {
				t.Errorf("parseImage(%q) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}
}

func TestResolveImage(t *testing.T) {
	binDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(binDir, "app"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(binDir, "noexec"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(binDir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ref          string
		want         image
		wantNotFound bool
		wantErr      bool
	}{
		"executable resolves": {
			ref:  "ramp/app:v2",
			want: image{ref: "ramp/app:v2", name: "app", tag: "v2", binary: filepath.Join(binDir, "app")},
		},
		"executable resolves with default tag": {
			ref:  "registry.example.com:5000/app@sha256:abc",
			want: image{ref: "registry.example.com:5000/app@sha256:abc", name: "app", tag: "latest", binary: filepath.Join(binDir, "app")},
		},
		"missing binary":      {ref: "ramp/missing:v1", wantNotFound: true, wantErr: true},
		"non-executable file": {ref: "ramp/noexec:v1", wantNotFound: true, wantErr: true},
		"directory":           {ref: "ramp/adir:v1", wantNotFound: true, wantErr: true},
		"parent directory":    {ref: "ramp/..:v1", wantNotFound: true, wantErr: true},
		"invalid reference":   {ref: "", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resolveImage(binDir, tc.ref)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("resolveImage(%q) error = %v, want error %v", tc.ref, err, tc.wantErr)
			}
			if gotNF := errors.Is(err, ErrImageNotFound); gotNF != tc.wantNotFound {
				t.Errorf("errors.Is(%v, ErrImageNotFound) = %v, want %v", err, gotNF, tc.wantNotFound)
			}
			if tc.wantNotFound && !strings.Contains(err.Error(), tc.ref) {
				t.Errorf("error %q does not mention image %q", err, tc.ref)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(image{})); diff != "" {
				t.Errorf("resolveImage(%q) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}
}
