/**
 * Typed errors. Every message says where (file, field/tensor, offset), what was expected and what was found,
 * so that a user can act on it without a stack trace.
 */

/** Base class of every error llamats throws on purpose. */
export class LlamatsError extends Error {
  override name = 'LlamatsError';
}

/** A file is malformed: truncated, lying about sizes, wrong magic, wrong types. */
export class FormatError extends LlamatsError {
  override name = 'FormatError';
  constructor(
    readonly file: string,
    readonly field: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${file}: ${field}: expected ${expected}, found ${found}`);
  }
}

/** A file is well-formed but uses a feature we do not support (yet). */
export class UnsupportedError extends LlamatsError {
  override name = 'UnsupportedError';
  constructor(
    readonly file: string,
    readonly field: string,
    readonly what: string,
  ) {
    super(`${file}: ${field}: ${what} is not supported yet`);
  }
}

/** A model configuration is inconsistent (dims that do not divide, non-positive sizes). */
export class ConfigError extends LlamatsError {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly field: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${source}: config ${field}: expected ${expected}, found ${found}`);
  }
}

/** Tensors of the wrong shape or dtype were passed to an op or a model. */
export class ShapeError extends LlamatsError {
  override name = 'ShapeError';
  constructor(
    readonly where: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${where}: expected ${expected}, found ${found}`);
  }
}

/** A caller-supplied value is out of range (a token id past the vocabulary, a prompt longer than the context). */
export class ArgumentError extends LlamatsError {
  override name = 'ArgumentError';
  constructor(
    readonly argument: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${argument}: expected ${expected}, found ${found}`);
  }
}
