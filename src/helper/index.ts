// Helper seeds: a seed process that serves its own volunteers for the run's root (helper.ts).
export {
  HELLO_RETRY_MS,
  type Helper,
  type HelperOptions,
  type HelperStatus,
  PARTIAL_MARGIN_MS,
  ROOT_FETCH_TIMEOUT_MS,
  ROUND_POLL_MS,
  startHelper,
} from './helper';
