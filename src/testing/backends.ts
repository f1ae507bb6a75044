import { backendNames, type BackendName } from '../backend/registry.js';
import { gpuUnavailableReason } from '../backend/webgpu/gpu.js';

/** Why a backend cannot run on this machine (a test reports it as its skip reason); undefined when it can. */
export const unavailable: Record<BackendName, string | undefined> = {
  cpu: undefined,
  reference: undefined,
  webgpu: await gpuUnavailableReason(),
};

/** The backends this machine can run. */
export const availableBackends: BackendName[] = backendNames.filter((name) => !unavailable[name]);
