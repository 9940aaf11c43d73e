package v1

// TrafficTarget sends a share of a route's traffic to a Revision, and can
// give that Revision a tag URL of its own.
type TrafficTarget struct {
	// Tag gives the target its own URL, <tag>-<route>.<namespace>.<domain>,
	// and makes it selectable with the Ramp-Serving-Tag header.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Tag string `json:"tag,omitempty"`

	// RevisionName pins the target to one Revision.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	RevisionName string `json:"revisionName,omitempty"`

	// ConfigurationName is set in status for targets that follow the latest
	// Revision.
	// +optional
	ConfigurationName string `json:"configurationName,omitempty"`

	// LatestRevision follows the latest ready Revision of the Configuration.
	// +optional
	LatestRevision *bool `json:"latestRevision,omitempty"`

	// Percent of the traffic; 0 when unset. All targets sum to 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent *int64 `json:"percent,omitempty"`

	// URL of the tag (status only).
	// +optional
	URL string `json:"url,omitempty"`
}

// TrafficList is a route's traffic block.
// +kubebuilder:validation:MaxItems=64
// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.map(t, has(t.percent) ? t.percent : 0).sum() == 100",message="traffic percents must sum to 100"
// +kubebuilder:validation:XValidation:rule="self.all(t, (has(t.revisionName) && size(t.revisionName) > 0) != (has(t.latestRevision) && t.latestRevision))",message="exactly one of revisionName and latestRevision: true must be set on each target"
// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.tag) || self.filter(u, has(u.tag) && u.tag == t.tag).size() == 1)",message="traffic tags must be unique"
type TrafficList []TrafficTarget

// PercentOf returns the target's percent, 0 when unset.
func (t TrafficTarget) PercentOf() int64 {
	if t.Percent == nil {
		return 0
	}
	return *t.Percent
}

// IsLatest reports whether the target follows the latest ready Revision.
func (t TrafficTarget) IsLatest() bool { return t.LatestRevision != nil && *t.LatestRevision }
