package main

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scaledObject is the schema of KEDA's keda.sh/v1alpha1 ScaledObject,
// written from KEDA's documentation (ScaledObject specification and the
// Apache Kafka scaler, KEDA 2.x): KEDA's CRD is not a Go module this
// generator can reflect on without pulling in all of KEDA. It covers the
// fields the documentation lists, refuses others, and for a kafka
// trigger requires the scaler's mandatory parameters and numeric
// thresholds.
func scaledObject() schema {
	str := schema{"type": "string"}
	integer := schema{"type": "integer", "minimum": 0}
	numeric := schema{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?$`}
	boolean := schema{"type": "string", "enum": []string{"true", "false"}}
	obj := func(required []string, props schema) schema {
		s := schema{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	hpaBehavior := schema{"type": "object"} // autoscaling/v2 HorizontalPodAutoscalerBehavior, passed to the HPA as is
	trigger := obj([]string{"type", "metadata"}, schema{
		"type":             str,
		"name":             str,
		"metadata":         schema{"type": "object", "additionalProperties": str},
		"useCachedMetrics": schema{"type": "boolean"},
		"metricType":       schema{"type": "string", "enum": []string{"AverageValue", "Value", "Utilization"}},
		"authenticationRef": obj([]string{"name"}, schema{
			"name": str,
			"kind": schema{"type": "string", "enum": []string{"TriggerAuthentication", "ClusterTriggerAuthentication"}},
		}),
	})
	// the kafka scaler's parameters
	trigger["if"] = schema{"properties": schema{"type": schema{"const": "kafka"}}}
	trigger["then"] = schema{"properties": schema{"metadata": schema{
		"required": []string{"bootstrapServers", "consumerGroup"},
		"properties": schema{
			"bootstrapServers":           str,
			"consumerGroup":              str,
			"topic":                      str,
			"lagThreshold":               numeric,
			"activationLagThreshold":     numeric,
			"offsetResetPolicy":          schema{"type": "string", "enum": []string{"earliest", "latest"}},
			"allowIdleConsumers":         boolean,
			"scaleToZeroOnInvalidOffset": boolean,
			"excludePersistentLag":       boolean,
			"limitToPartitionsWithLag":   boolean,
			"partitionLimitation":        str,
			"version":                    str,
			"sasl":                       str,
			"tls":                        str,
		},
		"additionalProperties": false,
	}}}
	spec := obj([]string{"scaleTargetRef", "triggers"}, schema{
		"scaleTargetRef": obj([]string{"name"}, schema{
			"apiVersion":             str,
			"kind":                   str,
			"name":                   str,
			"envSourceContainerName": str,
		}),
		"pollingInterval":       integer,
		"cooldownPeriod":        integer,
		"initialCooldownPeriod": integer,
		"idleReplicaCount":      integer,
		"minReplicaCount":       integer,
		"maxReplicaCount":       schema{"type": "integer", "minimum": 1},
		"fallback": obj([]string{"failureThreshold", "replicas"}, schema{
			"failureThreshold": integer,
			"replicas":         integer,
			"behavior":         schema{"type": "string", "enum": []string{"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"}},
		}),
		"advanced": obj(nil, schema{
			"restoreToOriginalReplicaCount": schema{"type": "boolean"},
			"horizontalPodAutoscalerConfig": obj(nil, schema{"name": str, "behavior": hpaBehavior}),
			"scalingModifiers": obj([]string{"target", "formula"}, schema{
				"target":           str,
				"activationTarget": str,
				"metricType":       schema{"type": "string", "enum": []string{"AverageValue", "Value"}},
				"formula":          str,
			}),
		}),
		"triggers": schema{"type": "array", "minItems": 1, "items": trigger},
	})
	return schema{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"apiVersion", "kind", "metadata", "spec"},
		"properties": schema{
			"apiVersion": schema{"type": "string", "enum": []string{"keda.sh/v1alpha1"}},
			"kind":       schema{"type": "string", "enum": []string{"ScaledObject"}},
			"metadata":   of(reflect.TypeFor[metav1.ObjectMeta](), map[reflect.Type]bool{}),
			"spec":       spec,
			"status":     schema{"type": "object"},
		},
	}
}
