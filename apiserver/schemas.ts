// The one source of truth for object shapes: OpenAPI definitions per kind, used by ajv for validation
// (types, required fields, enums, unknown fields) and served as OpenAPI v2 and v3 for kubectl.

export type JSONSchema = Record<string, unknown>;

// ---- tiny schema builders ----------------------------------------------------------------------

const str = (description?: string, extra: JSONSchema = {}): JSONSchema => ({
  type: 'string',
  ...(description ? { description } : {}),
  ...extra,
});
const int = (description?: string, format = 'int32'): JSONSchema => ({
  type: 'integer',
  format,
  ...(description ? { description } : {}),
});
const bool = (description?: string): JSONSchema => ({
  type: 'boolean',
  ...(description ? { description } : {}),
});
const time = (description?: string): JSONSchema => ({
  type: 'string',
  format: 'date-time',
  ...(description ? { description } : {}),
});
const nullableTime = (description?: string): JSONSchema => ({
  type: 'string',
  format: 'date-time',
  nullable: true,
  ...(description ? { description } : {}),
});
const enumStr = (values: string[], description?: string): JSONSchema => ({
  type: 'string',
  enum: values,
  description: `${description ? description + '\n\n' : ''}Possible enum values: ${values.map((v) => `"${v}"`).join(', ')}`,
});
const ref = (name: string, description?: string): JSONSchema =>
  description
    ? { allOf: [{ $ref: `#/definitions/${name}` }], description }
    : { $ref: `#/definitions/${name}` };
const arr = (
  items: JSONSchema,
  description?: string,
  patch?: { key?: string; strategy?: string; listType?: string },
): JSONSchema => ({
  type: 'array',
  items,
  ...(description ? { description } : {}),
  ...(patch?.key
    ? { 'x-kubernetes-patch-merge-key': patch.key, 'x-kubernetes-list-map-keys': [patch.key] }
    : {}),
  ...(patch?.strategy ? { 'x-kubernetes-patch-strategy': patch.strategy } : {}),
  ...(patch?.listType
    ? { 'x-kubernetes-list-type': patch.listType }
    : patch?.key
      ? { 'x-kubernetes-list-type': 'map' }
      : {}),
});
const strMap = (description?: string): JSONSchema => ({
  type: 'object',
  additionalProperties: { type: 'string' },
  ...(description ? { description } : {}),
});
const intOrStr = (description?: string): JSONSchema => ({
  'x-kubernetes-int-or-string': true,
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  ...(description ? { description } : {}),
});
/** A sub-object we do not model field by field: kept as sent, never an unknown-field error. */
const opaque = (description?: string): JSONSchema => ({
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
  ...(description ? { description } : {}),
});
const obj = (
  properties: Record<string, JSONSchema>,
  description: string,
  required: string[] = [],
): JSONSchema => ({
  type: 'object',
  description,
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
});

const apiVersion = str('APIVersion defines the versioned schema of this representation of an object.');
const kind = str('Kind is a string value representing the REST resource this object represents.');
const metadata = ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', "Standard object's metadata.");
const quantityMap = (description: string): JSONSchema => ({
  type: 'object',
  additionalProperties: intOrStr(),
  description,
});

function condition(description: string, times: string[]): JSONSchema {
  const props: Record<string, JSONSchema> = {
    type: str('Type of condition.'),
    status: enumStr(['False', 'True', 'Unknown'], 'Status of the condition.'),
    reason: str("The reason for the condition's last transition."),
    message: str('A human readable message indicating details about the transition.'),
  };
  for (const t of times) props[t] = nullableTime();
  return obj(props, description, ['type', 'status']);
}

const M = 'io.k8s.apimachinery.pkg.apis.meta.v1.';
const C = 'io.k8s.api.core.v1.';
const A = 'io.k8s.api.apps.v1.';

export const DEFINITIONS: Record<string, JSONSchema> = {
  // ---- meta/v1
  [M + 'ObjectMeta']: obj(
    {
      name: str('Name must be unique within a namespace.'),
      generateName: str(
        'An optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.',
      ),
      namespace: str('Namespace defines the space within which each name must be unique.'),
      uid: str('UID is the unique in time and space value for this object.'),
      resourceVersion: str(
        'An opaque value that represents the internal version of this object (the store revision of its last change).',
      ),
      generation: int('A sequence number representing a specific generation of the desired state.', 'int64'),
      creationTimestamp: time('Time when this object was created.'),
      deletionTimestamp: time('Time at which this resource will be deleted.'),
      deletionGracePeriodSeconds: int(
        'Number of seconds allowed for this object to gracefully terminate.',
        'int64',
      ),
      labels: strMap('Map of string keys and values that can be used to organize and categorize objects.'),
      annotations: strMap('Annotations is an unstructured key value map stored with a resource.'),
      ownerReferences: arr(ref(M + 'OwnerReference'), 'List of objects depended by this object.', {
        key: 'uid',
        strategy: 'merge',
      }),
      finalizers: arr(str(), 'Must be empty before the object is deleted from the registry.', {
        strategy: 'merge',
        listType: 'set',
      }),
      managedFields: arr(
        ref(M + 'ManagedFieldsEntry'),
        'Maps workflow-id and version to the set of fields that are managed by that workflow.',
      ),
      selfLink: str('Deprecated.'),
    },
    'ObjectMeta is metadata that all persisted resources must have.',
  ),
  [M + 'OwnerReference']: obj(
    {
      apiVersion: str('API version of the referent.'),
      kind: str('Kind of the referent.'),
      name: str('Name of the referent.'),
      uid: str('UID of the referent.'),
      controller: bool('If true, this reference points to the managing controller.'),
      blockOwnerDeletion: bool(
        'If true, the owner cannot be deleted from the store until this reference is removed (foreground deletion).',
      ),
    },
    'OwnerReference contains enough information to let you identify an owning object.',
    ['apiVersion', 'kind', 'name', 'uid'],
  ),
  [M + 'ManagedFieldsEntry']: obj(
    {
      manager: str(),
      operation: str(),
      apiVersion: str(),
      time: time(),
      fieldsType: str(),
      fieldsV1: opaque(),
      subresource: str(),
    },
    'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.',
  ),
  [M + 'LabelSelector']: obj(
    {
      matchLabels: strMap('matchLabels is a map of {key,value} pairs.'),
      matchExpressions: arr(
        ref(M + 'LabelSelectorRequirement'),
        'matchExpressions is a list of label selector requirements. The requirements are ANDed.',
      ),
    },
    'A label selector is a label query over a set of resources.',
  ),
  [M + 'LabelSelectorRequirement']: obj(
    {
      key: str('key is the label key that the selector applies to.'),
      operator: enumStr(
        ['DoesNotExist', 'Exists', 'In', 'NotIn'],
        "operator represents a key's relationship to a set of values.",
      ),
      values: arr(str(), 'values is an array of string values.'),
    },
    'A label selector requirement is a selector that contains values, a key, and an operator that relates the key and values.',
    ['key', 'operator'],
  ),
  // ---- core/v1
  [C + 'Namespace']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: obj(
        {
          finalizers: arr(
            str(),
            'Finalizers is an opaque list of values that must be empty to permanently remove object from storage.',
            { listType: 'atomic' },
          ),
        },
        'NamespaceSpec describes the attributes on a Namespace.',
      ),
      status: obj(
        {
          phase: enumStr(['Active', 'Terminating'], 'Phase is the current lifecycle phase of the namespace.'),
          conditions: arr(
            condition('NamespaceCondition contains details about state of namespace.', [
              'lastTransitionTime',
            ]),
            undefined,
            { key: 'type', strategy: 'merge' },
          ),
        },
        'NamespaceStatus is information about the current status of a Namespace.',
      ),
    },
    'Namespace provides a scope for Names.',
  ),
  [C + 'Container']: obj(
    {
      name: str('Name of the container specified as a DNS_LABEL.'),
      image: str('Container image name.'),
      command: arr(str(), 'Entrypoint array.', { listType: 'atomic' }),
      args: arr(str(), 'Arguments to the entrypoint.', { listType: 'atomic' }),
      workingDir: str("Container's working directory."),
      ports: arr(ref(C + 'ContainerPort'), 'List of ports to expose from the container.', {
        key: 'containerPort',
        strategy: 'merge',
      }),
      env: arr(ref(C + 'EnvVar'), 'List of environment variables to set in the container.', {
        key: 'name',
        strategy: 'merge',
      }),
      envFrom: arr(opaque(), 'List of sources to populate environment variables in the container.', {
        listType: 'atomic',
      }),
      resources: ref(C + 'ResourceRequirements', 'Compute Resources required by this container.'),
      volumeMounts: arr(
        opaque('VolumeMount describes a mounting of a Volume within a container.'),
        "Pod volumes to mount into the container's filesystem.",
        { key: 'mountPath', strategy: 'merge' },
      ),
      livenessProbe: opaque('Periodic probe of container liveness.'),
      readinessProbe: opaque('Periodic probe of container service readiness.'),
      startupProbe: opaque('StartupProbe indicates that the Pod has successfully initialized.'),
      lifecycle: opaque(
        'Actions that the management system should take in response to container lifecycle events.',
      ),
      terminationMessagePath: str(),
      terminationMessagePolicy: enumStr(['FallbackToLogsOnError', 'File']),
      imagePullPolicy: enumStr(['Always', 'IfNotPresent', 'Never'], 'Image pull policy.'),
      securityContext: opaque(
        'SecurityContext defines the security options the container should be run with.',
      ),
      stdin: bool(),
      stdinOnce: bool(),
      tty: bool(),
      restartPolicy: str(),
    },
    'A single application container that you want to run within a pod.',
    ['name'],
  ),
  [C + 'ContainerPort']: obj(
    {
      name: str('If specified, this must be an IANA_SVC_NAME and unique within the pod.'),
      containerPort: int("Number of port to expose on the pod's IP address."),
      hostPort: int('Number of port to expose on the host.'),
      hostIP: str('What host IP to bind the external port to.'),
      protocol: enumStr(['SCTP', 'TCP', 'UDP'], 'Protocol for port. Defaults to "TCP".'),
    },
    'ContainerPort represents a network port in a single container.',
    ['containerPort'],
  ),
  [C + 'EnvVar']: obj(
    {
      name: str('Name of the environment variable.'),
      value: str('Variable value.'),
      valueFrom: opaque("Source for the environment variable's value."),
    },
    'EnvVar represents an environment variable present in a Container.',
    ['name'],
  ),
  [C + 'ResourceRequirements']: obj(
    {
      limits: quantityMap('Limits describes the maximum amount of compute resources allowed.'),
      requests: quantityMap('Requests describes the minimum amount of compute resources required.'),
      claims: arr(opaque()),
    },
    'ResourceRequirements describes the compute resource requirements.',
  ),
  [C + 'Toleration']: obj(
    {
      key: str(),
      operator: enumStr(['Equal', 'Exists']),
      value: str(),
      effect: enumStr(['NoExecute', 'NoSchedule', 'PreferNoSchedule']),
      tolerationSeconds: int(undefined, 'int64'),
    },
    'The pod this Toleration is attached to tolerates any taint that matches the triple <key,value,effect>.',
  ),
  [C + 'PodSpec']: obj(
    {
      containers: arr(ref(C + 'Container'), 'List of containers belonging to the pod.', {
        key: 'name',
        strategy: 'merge',
      }),
      initContainers: arr(ref(C + 'Container'), 'List of initialization containers belonging to the pod.', {
        key: 'name',
        strategy: 'merge',
      }),
      volumes: arr(
        opaque('Volume represents a named volume in a pod.'),
        'List of volumes that can be mounted by containers belonging to the pod.',
        { key: 'name', strategy: 'merge,retainKeys' },
      ),
      restartPolicy: enumStr(
        ['Always', 'Never', 'OnFailure'],
        'Restart policy for all containers within the pod.',
      ),
      terminationGracePeriodSeconds: int(
        'Optional duration in seconds the pod needs to terminate gracefully.',
        'int64',
      ),
      activeDeadlineSeconds: int(undefined, 'int64'),
      dnsPolicy: enumStr(
        ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'],
        'Set DNS policy for the pod.',
      ),
      nodeSelector: strMap('NodeSelector is a selector which must be true for the pod to fit on a node.'),
      serviceAccountName: str('ServiceAccountName is the name of the ServiceAccount to use to run this pod.'),
      serviceAccount: str('Deprecated: use serviceAccountName.'),
      automountServiceAccountToken: bool(),
      nodeName: str('NodeName is a request to schedule this pod onto a specific node.'),
      hostNetwork: bool(),
      hostPID: bool(),
      hostIPC: bool(),
      shareProcessNamespace: bool(),
      securityContext: opaque('SecurityContext holds pod-level security attributes.'),
      imagePullSecrets: arr(opaque(), undefined, { key: 'name', strategy: 'merge' }),
      hostname: str(),
      subdomain: str(),
      affinity: opaque("If specified, the pod's scheduling constraints."),
      schedulerName: str('If specified, the pod will be dispatched by specified scheduler.'),
      tolerations: arr(ref(C + 'Toleration'), "If specified, the pod's tolerations.", { listType: 'atomic' }),
      hostAliases: arr(opaque()),
      priorityClassName: str(),
      priority: int(),
      dnsConfig: opaque(),
      readinessGates: arr(opaque()),
      runtimeClassName: str(),
      enableServiceLinks: bool(),
      preemptionPolicy: str(),
      overhead: quantityMap('Overhead represents the resource overhead associated with running a pod.'),
      topologySpreadConstraints: arr(opaque()),
      setHostnameAsFQDN: bool(),
      os: opaque(),
      hostUsers: bool(),
      schedulingGates: arr(opaque()),
      resourceClaims: arr(opaque()),
      ephemeralContainers: arr(opaque()),
    },
    'PodSpec is a description of a pod.',
    ['containers'],
  ),
  [C + 'ContainerStatus']: obj(
    {
      name: str(),
      state: opaque(),
      lastState: opaque(),
      ready: bool(),
      restartCount: int(),
      image: str(),
      imageID: str(),
      containerID: str(),
      started: bool(),
      allocatedResources: quantityMap(''),
      resources: opaque(),
      volumeMounts: arr(opaque()),
      user: opaque(),
      allocatedResourcesStatus: arr(opaque()),
    },
    'ContainerStatus contains details for the current status of this container.',
    ['name', 'ready', 'restartCount', 'image', 'imageID'],
  ),
  [C + 'PodStatus']: obj(
    {
      phase: enumStr(
        ['Failed', 'Pending', 'Running', 'Succeeded', 'Unknown'],
        'The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle.',
      ),
      conditions: arr(
        condition('PodCondition contains details for the current condition of this pod.', [
          'lastProbeTime',
          'lastTransitionTime',
        ]),
        'Current service state of pod.',
        { key: 'type', strategy: 'merge' },
      ),
      message: str(),
      reason: str(),
      nominatedNodeName: str(),
      hostIP: str('hostIP holds the IP address of the host to which the pod is assigned.'),
      hostIPs: arr(opaque()),
      podIP: str('podIP address allocated to the pod.'),
      podIPs: arr(
        obj({ ip: str() }, 'PodIP represents a single IP address allocated to the pod.'),
        undefined,
        { key: 'ip', strategy: 'merge' },
      ),
      startTime: time(),
      initContainerStatuses: arr(ref(C + 'ContainerStatus')),
      containerStatuses: arr(ref(C + 'ContainerStatus')),
      ephemeralContainerStatuses: arr(ref(C + 'ContainerStatus')),
      qosClass: enumStr(['BestEffort', 'Burstable', 'Guaranteed']),
      resize: str(),
      resourceClaimStatuses: arr(opaque()),
    },
    'PodStatus represents information about the status of a pod.',
  ),
  [C + 'Pod']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: ref(C + 'PodSpec', 'Specification of the desired behavior of the pod.'),
      status: ref(C + 'PodStatus', 'Most recently observed status of the pod.'),
    },
    'Pod is a collection of containers that can run on a host.',
  ),
  [C + 'PodTemplateSpec']: obj(
    { metadata, spec: ref(C + 'PodSpec', 'Specification of the desired behavior of the pod.') },
    'PodTemplateSpec describes the data a pod should have when created from a template.',
  ),
  [C + 'Binding']: obj(
    {
      apiVersion,
      kind,
      metadata,
      target: ref(C + 'ObjectReference', 'The target object that you want to bind to the standard object.'),
    },
    'Binding ties one object to another; for example, a pod is bound to a node by a scheduler.',
    ['target'],
  ),
  [C + 'ObjectReference']: obj(
    {
      apiVersion: str(),
      kind: str(),
      namespace: str(),
      name: str(),
      uid: str(),
      resourceVersion: str(),
      fieldPath: str(),
    },
    'ObjectReference contains enough information to let you inspect or modify the referred object.',
  ),
  [C + 'Taint']: obj(
    {
      key: str('Required. The taint key to be applied to a node.'),
      value: str(),
      effect: enumStr(['NoExecute', 'NoSchedule', 'PreferNoSchedule']),
      timeAdded: time(),
    },
    'The node this Taint is attached to has the "effect" on any pod that does not tolerate the Taint.',
    ['key', 'effect'],
  ),
  [C + 'NodeSpec']: obj(
    {
      podCIDR: str(),
      podCIDRs: arr(str(), undefined, { strategy: 'merge', listType: 'set' }),
      providerID: str(),
      unschedulable: bool('Unschedulable controls node schedulability of new pods.'),
      taints: arr(ref(C + 'Taint'), "If specified, the node's taints.", { listType: 'atomic' }),
      configSource: opaque(),
      externalID: str(),
    },
    'NodeSpec describes the attributes that a node is created with.',
  ),
  [C + 'NodeStatus']: obj(
    {
      capacity: quantityMap('Capacity represents the total resources of a node.'),
      allocatable: quantityMap(
        'Allocatable represents the resources of a node that are available for scheduling.',
      ),
      phase: str(),
      conditions: arr(
        condition('NodeCondition contains condition information for a node.', [
          'lastHeartbeatTime',
          'lastTransitionTime',
        ]),
        'Conditions is an array of current observed node conditions.',
        { key: 'type', strategy: 'merge' },
      ),
      addresses: arr(
        obj({ type: str(), address: str() }, "NodeAddress contains information for the node's address.", [
          'type',
          'address',
        ]),
        'List of addresses reachable to the node.',
        { key: 'type', strategy: 'merge' },
      ),
      daemonEndpoints: opaque(),
      nodeInfo: obj(
        {
          machineID: str(),
          systemUUID: str(),
          bootID: str(),
          kernelVersion: str(),
          osImage: str(),
          containerRuntimeVersion: str(),
          kubeletVersion: str(),
          kubeProxyVersion: str(),
          operatingSystem: str(),
          architecture: str(),
          swap: opaque(),
        },
        'NodeSystemInfo is a set of ids/uuids to uniquely identify the node.',
      ),
      images: arr(opaque()),
      volumesInUse: arr(str()),
      volumesAttached: arr(opaque()),
      config: opaque(),
      runtimeHandlers: arr(opaque()),
      features: opaque(),
    },
    'NodeStatus is information about the current status of a node.',
  ),
  [C + 'Node']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: ref(C + 'NodeSpec', 'Spec defines the behavior of a node.'),
      status: ref(C + 'NodeStatus', 'Most recently observed status of the node.'),
    },
    'Node is a worker node in Kubernetes.',
  ),
  [C + 'ServicePort']: obj(
    {
      name: str('The name of this port within the service.'),
      protocol: enumStr(['SCTP', 'TCP', 'UDP'], 'The IP protocol for this port.'),
      appProtocol: str(),
      port: int('The port that will be exposed by this service.'),
      targetPort: intOrStr('Number or name of the port to access on the pods targeted by the service.'),
      nodePort: int(),
    },
    "ServicePort contains information on service's port.",
    ['port'],
  ),
  [C + 'Service']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: obj(
        {
          ports: arr(ref(C + 'ServicePort'), 'The list of ports that are exposed by this service.', {
            key: 'port',
            strategy: 'merge',
          }),
          selector: strMap(
            'Route service traffic to pods with label keys and values matching this selector.',
          ),
          clusterIP: str(),
          clusterIPs: arr(str(), undefined, { listType: 'atomic' }),
          type: enumStr(
            ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'],
            'type determines how the Service is exposed.',
          ),
          externalIPs: arr(str()),
          sessionAffinity: enumStr(['ClientIP', 'None']),
          loadBalancerIP: str(),
          loadBalancerSourceRanges: arr(str()),
          externalName: str(),
          externalTrafficPolicy: str(),
          healthCheckNodePort: int(),
          publishNotReadyAddresses: bool(),
          sessionAffinityConfig: opaque(),
          ipFamilies: arr(str(), undefined, { listType: 'atomic' }),
          ipFamilyPolicy: str(),
          allocateLoadBalancerNodePorts: bool(),
          loadBalancerClass: str(),
          internalTrafficPolicy: str(),
          trafficDistribution: str(),
        },
        'ServiceSpec describes the attributes that a user creates on a service.',
      ),
      status: obj(
        { loadBalancer: opaque(), conditions: arr(opaque()) },
        'ServiceStatus represents the current status of a service.',
      ),
    },
    'Service is a named abstraction of software service consisting of local port that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.',
  ),
  [C + 'EndpointAddress']: obj(
    { ip: str(), hostname: str(), nodeName: str(), targetRef: ref(C + 'ObjectReference') },
    'EndpointAddress is a tuple that describes single IP address.',
    ['ip'],
  ),
  [C + 'Endpoints']: obj(
    {
      apiVersion,
      kind,
      metadata,
      subsets: arr(
        obj(
          {
            addresses: arr(ref(C + 'EndpointAddress')),
            notReadyAddresses: arr(ref(C + 'EndpointAddress')),
            ports: arr(
              obj(
                { name: str(), port: int(), protocol: enumStr(['SCTP', 'TCP', 'UDP']), appProtocol: str() },
                'EndpointPort is a tuple that describes a single port.',
                ['port'],
              ),
            ),
          },
          'EndpointSubset is a group of addresses with a common set of ports.',
        ),
        'The set of all endpoints is the union of all subsets.',
      ),
    },
    'Endpoints is a collection of endpoints that implement the actual service.',
  ),
  [C + 'ConfigMap']: obj(
    {
      apiVersion,
      kind,
      metadata,
      data: strMap('Data contains the configuration data.'),
      binaryData: strMap('BinaryData contains the binary data (base64).'),
      immutable: bool(),
    },
    'ConfigMap holds configuration data for pods to consume.',
  ),
  [C + 'Secret']: obj(
    {
      apiVersion,
      kind,
      metadata,
      data: strMap('Data contains the secret data (base64 values).'),
      stringData: strMap(
        'stringData allows specifying non-binary secret data in string form. It is merged into data on write.',
      ),
      type: str('Used to facilitate programmatic handling of secret data.'),
      immutable: bool(),
    },
    'Secret holds secret data of a certain type.',
  ),
  [C + 'Event']: obj(
    {
      apiVersion,
      kind,
      metadata,
      involvedObject: ref(C + 'ObjectReference', 'The object that this event is about.'),
      reason: str(),
      message: str(),
      source: obj({ component: str(), host: str() }, 'EventSource contains information for an event.'),
      firstTimestamp: nullableTime(),
      lastTimestamp: nullableTime(),
      count: int(),
      type: str('Type of this event (Normal, Warning).'),
      eventTime: { type: 'string', format: 'date-time', nullable: true },
      series: opaque(),
      action: str(),
      related: ref(C + 'ObjectReference'),
      reportingComponent: str(),
      reportingInstance: str(),
    },
    'Event is a report of an event somewhere in the cluster.',
    ['metadata', 'involvedObject'],
  ),
  // ---- apps/v1
  [A + 'DeploymentStrategy']: obj(
    {
      type: enumStr(['Recreate', 'RollingUpdate'], 'Type of deployment.'),
      rollingUpdate: obj(
        {
          maxUnavailable: intOrStr('The maximum number of pods that can be unavailable during the update.'),
          maxSurge: intOrStr(
            'The maximum number of pods that can be scheduled above the desired number of pods.',
          ),
        },
        'Spec to control the desired behavior of rolling update.',
      ),
    },
    'DeploymentStrategy describes how to replace existing pods with new ones.',
  ),
  [A + 'Deployment']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: obj(
        {
          replicas: int('Number of desired pods. Defaults to 1.'),
          selector: ref(M + 'LabelSelector', 'Label selector for pods.'),
          template: ref(C + 'PodTemplateSpec', 'Template describes the pods that will be created.'),
          strategy: {
            ...ref(
              A + 'DeploymentStrategy',
              'The deployment strategy to use to replace existing pods with new ones.',
            ),
            'x-kubernetes-patch-strategy': 'retainKeys',
          },
          minReadySeconds: int(),
          revisionHistoryLimit: int(
            'The number of old ReplicaSets to retain to allow rollback. Defaults to 10.',
          ),
          paused: bool('Indicates that the deployment is paused.'),
          progressDeadlineSeconds: int(
            'The maximum time in seconds for a deployment to make progress before it is considered to be failed. Defaults to 600s.',
          ),
        },
        'DeploymentSpec is the specification of the desired behavior of the Deployment.',
        ['selector', 'template'],
      ),
      status: obj(
        {
          observedGeneration: int(undefined, 'int64'),
          replicas: int(
            'Total number of non-terminated pods targeted by this deployment (their labels match the selector).',
          ),
          updatedReplicas: int(
            'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
          ),
          readyReplicas: int(),
          availableReplicas: int(),
          unavailableReplicas: int(),
          terminatingReplicas: int(),
          conditions: arr(
            condition('DeploymentCondition describes the state of a deployment at a certain point.', [
              'lastUpdateTime',
              'lastTransitionTime',
            ]),
            undefined,
            { key: 'type', strategy: 'merge' },
          ),
          collisionCount: int(),
        },
        'DeploymentStatus is the most recently observed status of the Deployment.',
      ),
    },
    'Deployment enables declarative updates for Pods and ReplicaSets.',
  ),
  [A + 'ReplicaSet']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: obj(
        {
          replicas: int('Replicas is the number of desired pods.'),
          minReadySeconds: int(),
          selector: ref(
            M + 'LabelSelector',
            'Selector is a label query over pods that should match the replica count.',
          ),
          template: ref(
            C + 'PodTemplateSpec',
            'Template is the object that describes the pod that will be created if insufficient replicas are detected.',
          ),
        },
        'ReplicaSetSpec is the specification of a ReplicaSet.',
        ['selector'],
      ),
      status: obj(
        {
          replicas: int(),
          fullyLabeledReplicas: int(),
          readyReplicas: int(),
          availableReplicas: int(),
          terminatingReplicas: int(),
          observedGeneration: int(undefined, 'int64'),
          conditions: arr(
            condition('ReplicaSetCondition describes the state of a replica set at a certain point.', [
              'lastTransitionTime',
            ]),
            undefined,
            { key: 'type', strategy: 'merge' },
          ),
        },
        'ReplicaSetStatus represents the current status of a ReplicaSet.',
        ['replicas'],
      ),
    },
    'ReplicaSet ensures that a specified number of pod replicas are running at any given time.',
  ),
  ['io.k8s.api.autoscaling.v1.Scale']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: obj(
        { replicas: int('replicas is the desired number of instances for the scaled object.') },
        'ScaleSpec describes the attributes of a scale subresource.',
      ),
      status: obj(
        { replicas: int(), selector: str() },
        'ScaleStatus represents the current status of a scale subresource.',
        ['replicas'],
      ),
    },
    'Scale represents a scaling request for a resource.',
  ),
  // ---- coordination.k8s.io/v1
  ['io.k8s.api.coordination.v1.Lease']: obj(
    {
      apiVersion,
      kind,
      metadata,
      spec: obj(
        {
          holderIdentity: str('holderIdentity contains the identity of the holder of a current lease.'),
          leaseDurationSeconds: int(
            'leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it.',
          ),
          acquireTime: {
            type: 'string',
            format: 'date-time',
            description: 'acquireTime is a time when the current lease was acquired.',
          },
          renewTime: {
            type: 'string',
            format: 'date-time',
            description: 'renewTime is a time when the current holder of a lease has last updated the lease.',
          },
          leaseTransitions: int('leaseTransitions is the number of transitions of a lease between holders.'),
          strategy: str(),
          preferredHolder: str(),
        },
        'LeaseSpec is a specification of a Lease.',
      ),
    },
    'Lease defines a lease concept.',
  ),
  [M + 'Status']: obj(
    {
      apiVersion,
      kind,
      metadata: opaque(),
      status: str(),
      message: str(),
      reason: str(),
      details: opaque(),
      code: int(),
    },
    "Status is a return value for calls that don't return other objects.",
  ),
};

/** The definition name of each served kind (group, version, kind) as OpenAPI's x-kubernetes-group-version-kind. */
export const KIND_DEFINITIONS: { group: string; version: string; kind: string; def: string }[] = [
  { group: '', version: 'v1', kind: 'Namespace', def: C + 'Namespace' },
  { group: '', version: 'v1', kind: 'Pod', def: C + 'Pod' },
  { group: '', version: 'v1', kind: 'Binding', def: C + 'Binding' },
  { group: '', version: 'v1', kind: 'Node', def: C + 'Node' },
  { group: '', version: 'v1', kind: 'Service', def: C + 'Service' },
  { group: '', version: 'v1', kind: 'Endpoints', def: C + 'Endpoints' },
  { group: '', version: 'v1', kind: 'ConfigMap', def: C + 'ConfigMap' },
  { group: '', version: 'v1', kind: 'Secret', def: C + 'Secret' },
  { group: '', version: 'v1', kind: 'Event', def: C + 'Event' },
  { group: '', version: 'v1', kind: 'Status', def: M + 'Status' },
  { group: 'apps', version: 'v1', kind: 'Deployment', def: A + 'Deployment' },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', def: A + 'ReplicaSet' },
  { group: 'autoscaling', version: 'v1', kind: 'Scale', def: 'io.k8s.api.autoscaling.v1.Scale' },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', def: 'io.k8s.api.coordination.v1.Lease' },
];

export function definitionFor(group: string, kind: string): string | undefined {
  return KIND_DEFINITIONS.find((k) => k.group === group && k.kind === kind)?.def;
}

// Attach x-kubernetes-group-version-kind where kubectl explain and client-side tools look for it.
for (const k of KIND_DEFINITIONS) {
  DEFINITIONS[k.def]['x-kubernetes-group-version-kind'] = [
    { group: k.group, kind: k.kind, version: k.version },
  ];
}
