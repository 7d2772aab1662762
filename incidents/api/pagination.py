from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size_from(value: str | None) -> int:
    """The page size a `?page_size=` asks for: none gives PAGE_SIZE, above MAX_PAGE_SIZE gives
    MAX_PAGE_SIZE; anything but a whole number, 1 or more, is a ValueError saying so. The API's
    lists and the admin's outbox page share it."""
    if value is None:
        return PAGE_SIZE
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ValueError("page_size must be a whole number, 1 or more.")
    return min(int(value), MAX_PAGE_SIZE)


class Pagination(PageNumberPagination):
    """`?page=` (a page past the last is a 404, DRF's rule) and `?page_size=` (1 or more;
    above 200 gives 200). A page size that is not a whole number is a 400, not the default."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def paginate_lazily(self, queryset, request, view=None, count=None):
        """`paginate_queryset`, except that the page is returned as the queryset's slice, not
        evaluated: the incident list reads its rows through it in one query
        (incidents/api/list_rows.py). The response (count, next, previous) is the same.
        `count(counted)`, if given, answers the count (the list keeps it,
        incidents/api/list_cache.py); `counted()` counts the queryset."""
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        if count is not None:
            paginator.count = count(queryset.count)  # Paginator.count is a cached_property
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            message = self.invalid_page_message.format(page_number=page_number, message=str(exc))
            raise NotFound(message) from None
        self.display_page_controls = paginator.num_pages > 1 and self.template is not None
        return self.page.object_list

    def get_paginated_json(self, rows: bytes) -> bytes:
        """`get_paginated_response`'s body (count, next, previous, results, in that order)
        with `rows`, a JSON array already written (incidents/api/list_rows.py)."""
        head = JSONRenderer().render(
            {
                "count": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            }
        )
        return head[:-1] + b',"results":' + rows + b"}"

    def get_page_size(self, request):
        try:
            return page_size_from(request.query_params.get(self.page_size_query_param))
        except ValueError as wrong:
            raise ValidationError({self.page_size_query_param: [str(wrong)]}) from None

    def get_page_number(self, request, paginator):
        if request.query_params.get(self.page_query_param) == "":
            raise NotFound("Invalid page: give a page number, or no ?page=.")
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; above "
                    f"{self.max_page_size} gives {self.max_page_size})."
                )
        return parameters
