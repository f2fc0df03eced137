// The manifest's `prices:` section, as the JSON Schema validates it.

/**
 * What one output image costs: a number, or a map whose keys are values of the job's quality
 * (`low`, `medium`, `high`, `auto`), resolution (`1k`, `2k`, `4k`), ratio (`"3:2"`), requested
 * pixel size (`1024x1024`) or `'*'` (anything), nested in any order.
 */
export type PriceTree = number | { [key: string]: PriceTree }

/** Token rates per million tokens, in the table's currency: turn reported usage into money. */
export interface TokenRates {
  textInput?: number
  imageInput?: number
  imageOutput?: number
}

/** A model's entry: a price tree, which at its top may also carry the model's token rates. */
export type ModelPrice = number | { tokens?: TokenRates; [key: string]: PriceTree | TokenRates | undefined }

/** `prices:` of the manifest: per hosted provider, per model id. `local` is free and has none. */
export interface PriceSettings {
  /** ISO 4217 code of every price here. Built-in prices (USD) apply only when it is USD. @default 'USD' */
  currency?: string
  toapis?: Record<string, ModelPrice>
  aa?: Record<string, ModelPrice>
  openai?: Record<string, ModelPrice>
}

/** An amount of money. */
export interface Money {
  amount: number
  /** ISO 4217 code, e.g. `USD`. */
  currency: string
}
