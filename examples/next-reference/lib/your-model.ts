/** Stands in for your model: the Next.js examples are type-checked (`npm run typecheck`), not run. */
export declare function yourModel(prompt: string, options: { signal: AbortSignal }): AsyncIterable<string>
