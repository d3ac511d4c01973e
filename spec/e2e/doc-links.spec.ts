/** Every relative link in README.md, docs/*.md and scripts' READMEs points to a file of the repository and,
 * with `#anchor`, to a heading of that file (GitHub's slugs). Links leaving the repository (../shared) and
 * web links are not checked. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../helpers/paths';

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = m[1].toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** The relative links of a markdown file (inline links and images, outside code blocks and code spans). */
export function links(markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/i.test(l));
}

const pages = (): string[] => [
  'README.md',
  ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ...fs.readdirSync(path.join(ROOT, 'scripts'), { recursive: true }).map(String).filter((f) => f.endsWith('.md')).map((f) => `scripts/${f}`),
];

describe('documentation links', () => {
  it('finds GitHub anchors and relative links as GitHub does', () => {
    expect([...anchors('# A `b` c\n## What Zennit 0.5.1 does, rule by rule\n```sh\n# not a heading\n```\n## A `b` c')])
      .to.deep.equal(['a-b-c', 'what-zennit-051-does-rule-by-rule', 'a-b-c-1']);
    expect(links('[x](docs/a.md#b) ![i](p.png) `[c](d.md)` [w](https://e.org)\n```\n[e](f.md)\n```')).to.deep.equal(['docs/a.md#b', 'p.png']);
  });

  it('every relative link in README.md and docs/ points to an existing file and heading', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages()) {
      const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
      for (const link of links(text)) {
        const [file, anchor] = link.split('#');
        const target = file ? path.resolve(ROOT, path.dirname(page), decodeURIComponent(file)) : path.join(ROOT, page);
        if (path.relative(ROOT, target).startsWith('..')) continue; // outside the repository (../shared)
        checked++;
        if (!fs.existsSync(target)) { broken.push(`${page}: ${link} (no such file)`); continue; }
        if (anchor !== undefined && target.endsWith('.md') && !anchors(fs.readFileSync(target, 'utf8')).has(anchor)) {
          broken.push(`${page}: ${link} (no such heading)`);
        }
      }
    }
    expect(broken, broken.join('\n')).to.deep.equal([]);
    expect(checked).to.be.greaterThan(20);
  });
});
