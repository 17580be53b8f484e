/**
 * Component lifetime: a Scope collects every disposer (trait listeners, DOM observers, timers) of the components
 * mounted in it, and `mount` turns a view's render function into anywidget's render, returning one dispose.
 * No view keeps a dispose list of its own.
 */
import type { AnyModel } from "@anywidget/types";
import type { ObjectHash } from "./traits";

export class Scope {
  private disposers: (() => void)[] = [];

  /** Run `fn` when the scope is disposed (last added, first run). */
  add(fn: () => void): void {
    this.disposers.push(fn);
  }

  /** Call each handler when its trait changes, until the scope is disposed. */
  listen<T extends ObjectHash>(model: AnyModel<T>, handlers: { [K in keyof T & string]?: () => void }): void {
    for (const [name, fn] of Object.entries(handlers) as [string, () => void][]) {
      model.on(`change:${name}`, fn);
      this.add(() => model.off(`change:${name}`, fn));
    }
  }

  dispose(): void {
    for (const fn of this.disposers.splice(0).reverse()) {
      try {
        fn();
      } catch (err) {
        console.warn("cnnviz_widgets: a disposer failed", err);
      }
    }
  }
}

export type Render<T extends ObjectHash> = (scope: Scope, model: AnyModel<T>, el: HTMLElement) => void;

/** anywidget's render for a view: builds it in a fresh Scope and returns the Scope's dispose. */
export function mount<T extends ObjectHash>(render: Render<T>): (model: AnyModel<T>, el: HTMLElement) => () => void {
  return (model, el) => {
    const scope = new Scope();
    render(scope, model, el);
    return () => scope.dispose();
  };
}
