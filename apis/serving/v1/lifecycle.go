package v1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types.
const (
	// ConditionReady summarises the other conditions of an object.
	ConditionReady = "Ready"

	// Revision conditions.
	RevisionConditionResourcesAvailable = "ResourcesAvailable"
	RevisionConditionContainerHealthy   = "ContainerHealthy"
	RevisionConditionActive             = "Active"

	// Configuration: only Ready.

	// Route conditions.
	RouteConditionAllTrafficAssigned = "AllTrafficAssigned"
	RouteConditionIngressReady       = "IngressReady"

	// Service conditions.
	ServiceConditionConfigurationsReady = "ConfigurationsReady"
	ServiceConditionRoutesReady         = "RoutesReady"
)

// Condition reasons.
const (
	ReasonReady                    = "Ready"
	ReasonDeploying                = "Deploying"
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonImagePullBackOff         = "ImagePullBackOff"
	ReasonCrashLoopBackOff         = "CrashLoopBackOff"
	ReasonContainerConfigError     = "CreateContainerConfigError"
	ReasonExitCode                 = "ExitCode"
	ReasonReadinessFailing         = "ReadinessProbeFailing"
	ReasonUnschedulable            = "Unschedulable"
	ReasonNotOwned                 = "NotOwned"
	ReasonNoTraffic                = "NoTraffic"
	ReasonActive                   = "Active"
	ReasonRevisionMissing          = "RevisionMissing"
	ReasonRevisionFailed           = "RevisionFailed"
	ReasonRevisionNotReady         = "RevisionNotReady"
	ReasonConfigurationMissing     = "ConfigurationMissing"
	ReasonNameConflict             = "RevisionNameConflict"
	ReasonProgrammed               = "Programmed"
	ReasonOutOfDate                = "OutOfDate"
	ReasonUnknown                  = "Unknown"
	ReasonInvalidAnnotation        = "InvalidAnnotation"
	// ReasonZeroInitialScale: a Revision with initial scale 0 (allowed by
	// the autoscaler's allow-zero-initial-scale) is available with no pod.
	ReasonZeroInitialScale = "ZeroInitialScale"
)

// Labels and annotations Ramp sets and reads.
const (
	LabelService                = "serving.ramp.dev/service"
	LabelConfiguration          = "serving.ramp.dev/configuration"
	LabelConfigurationGen       = "serving.ramp.dev/configurationGeneration"
	LabelRevision               = "serving.ramp.dev/revision"
	LabelRoute                  = "serving.ramp.dev/route"
	LabelVisibility             = "networking.ramp.dev/visibility"
	VisibilityLabelClusterLocal = "cluster-local"

	// AutoscalingPrefix starts Ramp's autoscaling annotations; Knative's
	// prefix is accepted as an alias (see AutoscalingAnnotation).
	AutoscalingPrefix          = "autoscaling.ramp.dev/"
	AutoscalingPrefixKnative   = "autoscaling.knative.dev/"
	AnnotationInitialScale     = AutoscalingPrefix + "initial-scale"
	AnnotationInitialScaleKn   = AutoscalingPrefixKnative + "initial-scale"
	AnnotationProgressDeadline = "serving.ramp.dev/progress-deadline"
	// AnnotationStickyMaxAge on a Service or Route turns on sticky sessions
	// with a cookie of that lifetime (a duration such as "1h").
	AnnotationStickyMaxAge = "serving.ramp.dev/sticky-max-age"
	// AnnotationRoutingState records whether a Revision is referenced by a
	// route ("active") or not ("reserve"), as Knative's routingState label.
	LabelRoutingState   = "serving.ramp.dev/routingState"
	RoutingStateActive  = "active"
	RoutingStateReserve = "reserve"
)

// GetCondition returns the condition of type t, or nil.
func (s *Status) GetCondition(t string) *metav1.Condition {
	return meta.FindStatusCondition(s.Conditions, t)
}

// IsReady reports whether Ready is True for the current generation.
func (s *Status) IsReady(generation int64) bool {
	c := s.GetCondition(ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && s.ObservedGeneration == generation
}

// MarkTrue sets condition t to True.
func (s *Status) MarkTrue(t, reason, msg string) { s.set(t, metav1.ConditionTrue, reason, msg) }

// MarkFalse sets condition t to False.
func (s *Status) MarkFalse(t, reason, msg string) { s.set(t, metav1.ConditionFalse, reason, msg) }

// MarkUnknown sets condition t to Unknown.
func (s *Status) MarkUnknown(t, reason, msg string) { s.set(t, metav1.ConditionUnknown, reason, msg) }

func (s *Status) set(t string, st metav1.ConditionStatus, reason, msg string) {
	if reason == "" {
		reason = ReasonUnknown
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: s.ObservedGeneration,
	})
}

// summarize sets Ready from the dependent conditions: False if any is
// False (with its reason), Unknown if any is Unknown or missing, else True.
func (s *Status) summarize(deps ...string) {
	var unknown *metav1.Condition
	for _, d := range deps {
		c := s.GetCondition(d)
		switch {
		case c == nil:
			if unknown == nil {
				unknown = &metav1.Condition{Reason: ReasonUnknown, Message: d + " has not been reported yet"}
			}
		case c.Status == metav1.ConditionFalse:
			s.MarkFalse(ConditionReady, c.Reason, c.Message)
			return
		case c.Status == metav1.ConditionUnknown && unknown == nil:
			unknown = c
		}
	}
	if unknown != nil {
		s.MarkUnknown(ConditionReady, unknown.Reason, unknown.Message)
		return
	}
	s.MarkTrue(ConditionReady, ReasonReady, "")
}

// Summarize sets the Revision's Ready condition.
func (s *RevisionStatus) Summarize() {
	s.summarize(RevisionConditionResourcesAvailable, RevisionConditionContainerHealthy)
}

// Summarize sets the Route's Ready condition.
func (s *RouteStatus) Summarize() {
	s.summarize(RouteConditionAllTrafficAssigned, RouteConditionIngressReady)
}

// Summarize sets the Service's Ready condition.
func (s *ServiceStatus) Summarize() {
	s.summarize(ServiceConditionConfigurationsReady, ServiceConditionRoutesReady)
}

// AutoscalingAnnotation returns the autoscaling.ramp.dev/<key> annotation,
// or its Knative alias autoscaling.knative.dev/<key>; Ramp's wins when both
// are set.
func AutoscalingAnnotation(annotations map[string]string, key string) (string, bool) {
	if v, ok := annotations[AutoscalingPrefix+key]; ok {
		return v, true
	}
	v, ok := annotations[AutoscalingPrefixKnative+key]
	return v, ok
}
