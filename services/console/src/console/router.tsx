// Client-side routing under /console/: links are real <a href>s (keyboard, middle-click and copy work);
// a plain click is turned into history.pushState so the page does not reload.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';

export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return p.replace(/\/+$/, '') || '/';
}

export function navigate(path: string): void {
  history.pushState(null, '', BASE + path);
  window.dispatchEvent(new Event('tp:navigate'));
  window.scrollTo(0, 0);
}

export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const on = () => setPath(currentPath());
    window.addEventListener('popstate', on);
    window.addEventListener('tp:navigate', on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener('tp:navigate', on);
    };
  }, []);
  return path;
}

/** onClick for an <a href>: in-app navigation for a plain left click, the browser's default otherwise. */
export function linkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith(BASE)) return;
  e.preventDefault();
  navigate(href.slice(BASE.length) || '/');
}

export function Link(props: { href: string; class?: string; children: ComponentChildren; 'aria-current'?: 'page' | undefined }) {
  return (
    <a href={BASE + props.href} class={props.class} aria-current={props['aria-current']} onClick={linkClick}>
      {props.children}
    </a>
  );
}
