package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebMetric measures a number in the JSON answer of an HTTP request, like
// Argo Rollouts' web metric: the controller sends the request at each
// look and judges the number at jsonPath on the metric's thresholds
// (max, min, maxIncrease, maxRatio), failureLimit failed looks in a row
// rolling back. An answer that is not 2xx, over 1 MiB, not JSON, or
// without a number at jsonPath is an Error look, never a pass.
//
// The url, the body and the header values are Go text/templates with the
// variables .Namespace, .Revision and .Tag: a request that uses any of
// them is sent once for the canary and once for the stable; one that uses
// none is sent once, its number is the canary's and the stable has none.
// +kubebuilder:validation:XValidation:rule="!has(self.body) || (has(self.method) && self.method == 'POST')",message="body is sent only with method POST",fieldPath=".body"
type WebMetric struct {
	// URL to ask, http or https, e.g.
	// http://metrics.shop/api/health?revision={{.Revision}}. Error
	// messages show it without user info and query values: pass secrets
	// in headers (valueFrom), not in the URL.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('http://') || self.startsWith('https://')",message="must be an http:// or https:// URL"
	URL string `json:"url"`

	// Method is GET (the default) or POST.
	// +optional
	// +kubebuilder:validation:Enum=GET;POST
	Method string `json:"method,omitempty"`

	// Headers of the request, each with a value or a value read from a
	// Secret key in the Rollout's namespace at each look (which needs the
	// chart's analysis.secretArgs=true).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Headers []WebHeader `json:"headers,omitempty"`

	// Body of a POST request (with Content-Type application/json unless a
	// header says otherwise).
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Body string `json:"body,omitempty"`

	// JSONPath is where the number is in the JSON answer: $ then field
	// names (.data.ok), array indexes ([0], [-1] for the last) and quoted
	// keys (['a.b']), e.g. $.data.results[0].value; {$.data.ok} and
	// .data.ok are accepted too. The value must be a JSON number, a string
	// holding a number ("0.5"), or a boolean (true is 1, false is 0).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	JSONPath string `json:"jsonPath"`

	// Timeout of the request, at most 1m (default 10s). A look as a whole
	// is bounded by 30s too.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('1m')",message="must be a positive duration of at most 1m, such as 10s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// WebHeader is a request header: a value (a template, see WebMetric), or
// a value read from a Secret key (sent as is).
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value and valueFrom"
type WebHeader struct {
	// Name of the header, e.g. Authorization.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[-!#$%&'*+.^_|~0-9A-Za-z]+$`
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`
	// +optional
	ValueFrom *WebHeaderSource `json:"valueFrom,omitempty"`
}

// WebHeaderSource is where a header's value is read from.
type WebHeaderSource struct {
	// SecretKeyRef is a key of a Secret in the Rollout's namespace.
	SecretKeyRef KeyRef `json:"secretKeyRef"`
}
