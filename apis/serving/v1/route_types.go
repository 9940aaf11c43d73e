package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RouteSpec is the traffic block of a Route or Service.
type RouteSpec struct {
	// Traffic splits requests across Revisions. Empty means 100% to the
	// latest ready Revision.
	// +optional
	Traffic TrafficList `json:"traffic,omitempty"`
	// HeaderRoutes send requests on the route's main host that carry a
	// header with an exact value to a tagged traffic target, whatever the
	// percentages say: A/B routing (e.g. X-Beta: "true" to the canary). The
	// first match wins; an explicit Ramp-Serving-Tag header goes first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	HeaderRoutes []HeaderRoute `json:"headerRoutes,omitempty"`
}

// HeaderRoute sends requests whose header Name equals Value to the traffic
// target tagged Tag.
type HeaderRoute struct {
	// Name of the header, matched case-insensitively.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Name string `json:"name"`
	// Value the header must have, exactly.
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value"`
	// Tag of the traffic target that serves the matching requests.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Tag string `json:"tag"`
}

// RouteStatus is the observed state of a Route.
type RouteStatus struct {
	Status `json:",inline"`
	// URL is where the route is reachable, http://<name>.<namespace>.<domain>.
	// +optional
	URL string `json:"url,omitempty"`
	// Address is the in-cluster address of the route.
	// +optional
	Address *Addressable `json:"address,omitempty"`
	// Traffic is the resolved traffic block: concrete Revisions, with URLs
	// for tags.
	// +optional
	Traffic []TrafficTarget `json:"traffic,omitempty"`
	// RoutingTable is what the gateway programs for this route: the single
	// source of truth of the data plane.
	// +optional
	RoutingTable *RoutingTable `json:"routingTable,omitempty"`
}

// Addressable is an in-cluster address.
type Addressable struct {
	URL string `json:"url,omitempty"`
}

// Visibility of a route.
type Visibility string

// Visibilities.
const (
	VisibilityExternal     Visibility = "External"
	VisibilityClusterLocal Visibility = "ClusterLocal"
)

// RoutingTable is a route compiled for the gateway.
type RoutingTable struct {
	// Hash identifies this table's content; the gateway reports the hashes it
	// has applied, so the route can tell when every replica has it.
	Hash string `json:"hash"`
	// Visibility: ClusterLocal routes are not served to outside clients.
	Visibility Visibility `json:"visibility"`
	// Rules match requests by host, and optionally by tag header.
	// +listType=atomic
	Rules []RoutingRule `json:"rules"`
	// Sticky, when set, pins each client to the revision it first got, with a
	// cookie, so a page and its assets come from one version.
	// +optional
	Sticky *StickySessions `json:"sticky,omitempty"`
	// HeaderRules route requests on the main host by header to a tag's
	// rule (the route's HeaderRoutes whose tag exists).
	// +optional
	// +listType=atomic
	HeaderRules []HeaderRoute `json:"headerRules,omitempty"`
}

// StickySessions configures the gateway's session cookie.
type StickySessions struct {
	// MaxAgeSeconds is the cookie's lifetime.
	MaxAgeSeconds int64 `json:"maxAgeSeconds"`
}

// RoutingRule sends requests for some hosts (and, if Tag is set, carrying
// the tag header on the main host) to weighted backends.
type RoutingRule struct {
	// +listType=atomic
	Hosts []string `json:"hosts"`
	// Tag, when set, means this rule also applies on the route's main host
	// to requests whose Ramp-Serving-Tag header equals it.
	// +optional
	Tag string `json:"tag,omitempty"`
	// +listType=atomic
	Backends []RoutingBackend `json:"backends"`
}

// RoutingBackend is one Revision's share of a rule.
type RoutingBackend struct {
	RevisionName string `json:"revisionName"`
	// ServiceName is the Kubernetes Service whose EndpointSlices list the
	// Revision's ready pods.
	ServiceName string `json:"serviceName"`
	Percent     int64  `json:"percent"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ramp;serving
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.traffic) || self.spec.traffic.all(t, !has(t.tag) || size(t.tag) + size(self.metadata.name) < 63)",message="each tag host label <tag>-<name> must be at most 63 characters",fieldPath=".spec.traffic"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.headerRoutes) || self.spec.headerRoutes.all(h, has(self.spec.traffic) && self.spec.traffic.exists(t, has(t.tag) && t.tag == h.tag))",message="each header route must name the tag of a traffic target",fieldPath=".spec.headerRoutes"

// Route splits traffic across Revisions and gives them URLs.
type Route struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RouteSpec   `json:"spec,omitempty"`
	Status RouteStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RouteList is a list of Routes.
type RouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Route `json:"items"`
}
