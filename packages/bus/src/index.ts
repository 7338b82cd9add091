export { decode, encode } from './codec.js';
export type { MessageCodec } from './codec.js';
export { InvalidSubjectTokenError, MalformedMessageError } from './errors.js';
export { deleteStreams, ensureStreams } from './streams.js';
export { StreamPublisher, type StreamAck } from './stream-publisher.js';
export { HostVerb, subjects } from './subjects.js';
export type { Subjects } from './subjects.js';
