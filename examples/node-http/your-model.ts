/** Stands in for your model: this example is type-checked (`npm run typecheck`), not run. */
export declare function yourModel(prompt: string, options: { signal: AbortSignal }): AsyncIterable<string>
