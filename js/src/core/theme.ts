/**
 * The page's theme for Python's charts: JupyterLab and Notebook 7 put data-jp-theme-light="true|false" on
 * <body>; VS Code marks dark themes with a body class; elsewhere the browser's colour-scheme preference decides.
 */
import type { AnyModel } from "@anywidget/types";
import type { Scope } from "./scope";
import type { ViewTraits } from "./traits";

export type Theme = "light" | "dark";

/** The theme from what the page shows (pure: the arguments are read from the DOM by `followTheme`). */
export function pageTheme(page: { jpThemeLight?: string | null; bodyClass?: string; prefersDark?: boolean }): Theme {
  if (page.jpThemeLight === "true") return "light";
  if (page.jpThemeLight === "false") return "dark";
  if (page.bodyClass && /\bvscode-(dark|high-contrast)\b/.test(page.bodyClass)) return "dark";
  return page.prefersDark ? "dark" : "light";
}

/** Keep the model's `theme` trait equal to the page's theme, now and whenever the theme changes. */
export function followTheme(scope: Scope, model: AnyModel<ViewTraits>): void {
  const body = document.body;
  const media = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  const update = () => {
    const theme = pageTheme({ jpThemeLight: body.getAttribute("data-jp-theme-light"), bodyClass: body.className, prefersDark: media?.matches });
    if (model.get("theme") !== theme) {
      model.set("theme", theme);
      model.save_changes();
    }
  };
  update();
  const observer = new MutationObserver(update);
  observer.observe(body, { attributes: true, attributeFilter: ["data-jp-theme-light", "class"] });
  scope.add(() => observer.disconnect());
  media?.addEventListener("change", update);
  scope.add(() => media?.removeEventListener("change", update));
}
