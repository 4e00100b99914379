// The supervisor behind `npm start` and the files a running cluster writes (cluster.json, kubeconfig).
export {
  Supervisor,
  SupervisorError,
  type ComponentSpec,
  type ComponentInfo,
  type ComponentState,
} from './supervisor.js';
export { kubeconfigYaml, STORE_EXTENSION, type ClusterFile, type StoreMember } from './files.js';
