/**
 * @images-edit/fake-provider: one HTTP server on 127.0.0.1 that speaks the toapis, 典名词元 (aa)
 * and OpenAI image-edit protocols, renders real images with sharp, and injects scripted faults.
 * See README.md.
 */
export { NOT_AN_IMAGE } from './images.js'
export { DEFAULT_MODELS, startFakeProviderServer } from './server.js'
export { type PixelSize, TOAPIS_RATIOS, type ToapisRatio, type ToapisResolution, toapisPixelSize, toapisSizes } from './sizes.js'
export {
  type FakeProviderServer,
  type FakeServerOptions,
  type Fault,
  type FaultKind,
  type InFlightStats,
  type Latency,
  type MultipartSummary,
  type RawBodyEntry,
  type RequestLogEntry,
  ROUTES,
  type RouteId,
  type Submission,
  type SubmissionMatch,
  type TaskInfo,
} from './types.js'
