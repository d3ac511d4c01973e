/** Node-only: an audit's text inputs (a model with a token-id input): .txt files, each one text or, with
 * textPer 'line', one text per non-empty line (inputs FILE.txt#N, output stems FILE-lineN). */
import * as path from 'path';
import { ReadLimits, readFileSafe } from '../safe-read';

export type TextPer = 'file' | 'line';

export interface TextEntries {
  /** the inputs, in listing order: files, and with textPer 'line' the lines of .txt files in their place */
  rels: string[];
  /** output stem per input (the files' stems, and FILE-lineN per line) */
  stems: Map<string, string>;
  /** the inputs that are lines: their file and text */
  lines: Map<string, { file: string; text: string }>;
}

/** The inputs of listed `files` under `folder` with their output stems (`stems`: the files', kept). */
export function textEntries(folder: string, files: string[], stems: Map<string, string>, textPer: TextPer, limits: ReadLimits): TextEntries {
  const lines = new Map<string, { file: string; text: string }>();
  if (textPer === 'file') return { rels: files, stems, lines };
  const rels: string[] = [];
  const lineStems = new Map(stems);
  for (const f of files) {
    if (!/\.txt$/i.test(f)) { rels.push(f); continue; }
    let text: string;
    try {
      text = readFileSafe(path.join(folder, ...f.split('/')), { what: 'text', maxBytes: limits.maxFileSize }).toString('utf8');
    } catch {
      rels.push(f); // recorded as a failed input when it is read again
      continue;
    }
    text.split('\n').forEach((l, k) => {
      if (!l.trim()) return;
      const rel = `${f}#${k + 1}`;
      rels.push(rel);
      lines.set(rel, { file: f, text: l });
      lineStems.set(rel, `${stems.get(f)}-line${k + 1}`);
    });
  }
  return { rels, stems: lineStems, lines };
}
