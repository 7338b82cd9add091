import { MalformedMessageError } from './errors.js';

/** The encode/decode pair ts-proto generates for each message. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** Encodes a protobuf message for the wire. */
export function encode<T>(codec: MessageCodec<T>, message: T): Uint8Array {
  return codec.encode(message).finish();
}

/** Decodes a protobuf message, turning any failure into a MalformedMessageError naming the subject. */
export function decode<T>(codec: Pick<MessageCodec<T>, 'decode'>, type: string, subject: string, data: Uint8Array): T {
  try {
    return codec.decode(data);
  } catch (err) {
    throw new MalformedMessageError(subject, type, { cause: err });
  }
}
