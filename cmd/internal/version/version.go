// Package version holds the release version and source revision of Ramp's
// binaries, set at link time by the image build (cmd/ramp-images):
//
//	-X github.com/rampdev/ramp/cmd/internal/version.Version=0.1.0
//	-X github.com/rampdev/ramp/cmd/internal/version.Revision=<commit>
package version

// Version is the release (the chart's appVersion); "dev" in local builds.
var Version = "dev"

// Revision is the source commit the binary was built from, if known.
var Revision = ""

// Registry is where the project publishes its images.
const Registry = "ghcr.io/rampdev"

// Image is the published reference of component at this Version.
func Image(component string) string { return Registry + "/" + component + ":" + Version }

// String is "<version>" or "<version> (<revision>)".
func String() string {
	if Revision == "" {
		return Version
	}
	return Version + " (" + Revision + ")"
}
